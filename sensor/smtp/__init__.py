"""SMTP conversations: exact client lines and server replies from two byte streams."""

from .conversation import SmtpConversation
from .events import Anomaly, ClientLine, ConversationEnd, ServerReply, SmtpEvent

__all__ = ["Anomaly", "ClientLine", "ConversationEnd", "ServerReply", "SmtpConversation", "SmtpEvent"]
