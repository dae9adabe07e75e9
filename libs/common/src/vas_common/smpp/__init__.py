"""SMPP 3.4 plumbing shared by the sms-sender (ESME side) and the SMSC simulator (SMSC side).

submit_sm and deliver_sm are encoded and decoded by the `smpp34` library's codec (Rust,
about 0.5 µs a PDU). We do the framing, the session PDUs (bind, enquire_link, unbind,
responses: a header and a few C strings each) and the session itself, because both sides
need control that smpp34's bundled client/server does not give: the ESME its own window,
TPS pacing and in-order retry on ESME_RTHROTTLED, the simulator bind credentials, TPS
enforcement and "stop answering" fault injection.
"""
