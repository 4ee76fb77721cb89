"""Convolutional recurrent cells: peephole / plain ConvLSTM and attentive ConvALSTM (HST-LSTM, VideoLSTM)."""
from .conv_lstm_cells import (ConvALSTMCell, ConvLSTMCell, PeepholeConvLSTMCell,
                              spatial_softmax, unroll)

__all__ = ['ConvLSTMCell', 'PeepholeConvLSTMCell', 'ConvALSTMCell',
           'spatial_softmax', 'unroll']
