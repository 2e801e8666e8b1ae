# @TEST-DOC: With stop_at_end=F recording goes on through content, QUIT and close; end names the first end (data).
# @TEST-EXEC: zeek -C -r $TRACES/smtp-subject-utf8-q.pcap $PACKAGE %INPUT
# @TEST-EXEC: btest-diff smtp_dialect.log
# @TEST-EXEC: rebuild-streams smtp_dialect.log >streams.txt
# @TEST-EXEC: btest-diff streams.txt

redef SmtpDialect::stop_at_end = F;
