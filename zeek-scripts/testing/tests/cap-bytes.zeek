# @TEST-DOC: The byte cap cuts the crossing chunk at exactly max_bytes and flags the record incomplete (reason cap).
# @TEST-EXEC: zeek -C -r $TRACES/smtp-multi-addr.pcap $PACKAGE %INPUT
# @TEST-EXEC: btest-diff smtp_dialect.log
# @TEST-EXEC: rebuild-streams smtp_dialect.log >streams.txt
# @TEST-EXEC: btest-diff streams.txt

redef SmtpDialect::max_bytes = 100;
