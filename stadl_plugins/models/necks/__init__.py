"""Necks between a backbone and the stock AVA RoI head."""
from .conv_alstm_neck import ConvALSTMNeck  # noqa: F401
from .hst_lstm_neck import HSTLSTMNeck  # noqa: F401
from .pwc_flow_neck import PWCFlowNeck  # noqa: F401
