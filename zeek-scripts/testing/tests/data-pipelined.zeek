# @TEST-DOC: Sendmail pipelines RCPT and DATA; recording stops with the server's 354.
# @TEST-EXEC: zeek -C -r $TRACES/smtp-multi-addr.pcap $PACKAGE
# @TEST-EXEC: btest-diff smtp_dialect.log
# @TEST-EXEC: rebuild-streams smtp_dialect.log >streams.txt
# @TEST-EXEC: btest-diff streams.txt
