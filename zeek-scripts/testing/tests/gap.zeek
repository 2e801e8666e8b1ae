# @TEST-DOC: Without stopping at BDAT the client's sequence gap is reached: recording stops there, flagged incomplete (reason gap); end keeps the first end (bdat).
# @TEST-EXEC: zeek -C -r $TRACES/smtp-bdat-gap.pcap $PACKAGE %INPUT
# @TEST-EXEC: btest-diff smtp_dialect.log
# @TEST-EXEC: rebuild-streams smtp_dialect.log >streams.txt
# @TEST-EXEC: btest-diff streams.txt

redef SmtpDialect::stop_at_end = F;
