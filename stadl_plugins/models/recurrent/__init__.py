"""Convolutional recurrent cells: peephole / plain ConvLSTM and attentive ConvALSTM (HST-LSTM, VideoLSTM)."""
