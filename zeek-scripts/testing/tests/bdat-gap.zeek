# @TEST-DOC: A client BDAT ends the conversation before the capture's sequence gap.
# @TEST-EXEC: zeek -C -r $TRACES/smtp-bdat-gap.pcap $PACKAGE
# @TEST-EXEC: btest-diff smtp_dialect.log
# @TEST-EXEC: rebuild-streams smtp_dialect.log >streams.txt
# @TEST-EXEC: btest-diff streams.txt
