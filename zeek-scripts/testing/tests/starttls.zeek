# @TEST-DOC: STARTTLS answered 220 ends the conversation; no TLS bytes are recorded.
# @TEST-EXEC: zeek -C -r $TRACES/smtp-starttls.pcap $PACKAGE
# @TEST-EXEC: btest-diff smtp_dialect.log
# @TEST-EXEC: rebuild-streams smtp_dialect.log >streams.txt
# @TEST-EXEC: btest-diff streams.txt
