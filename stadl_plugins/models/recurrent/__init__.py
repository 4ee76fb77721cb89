"""Convolutional recurrent cells: peephole / plain ConvLSTM and attentive ConvALSTM (HST-LSTM, VideoLSTM)."""
from .conv_lstm_cells import (
    ConvALSTMCell,
    ConvLSTMCell,
    PeepholeConvLSTMCell,
    spatial_softmax,
    unroll,
)
from .videolstm import VideoLSTMCore, feature_difference

__all__ = ['ConvLSTMCell', 'PeepholeConvLSTMCell', 'ConvALSTMCell',
           'spatial_softmax', 'unroll', 'VideoLSTMCore', 'feature_difference']
