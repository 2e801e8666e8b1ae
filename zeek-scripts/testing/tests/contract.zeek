# @TEST-DOC: The contract: `zeek -C -r CAPTURE zeek-scripts/scripts` in an empty folder writes smtp_dialect.log there, also in bare mode.
# @TEST-EXEC: mkdir full && cd full && zeek -C -r $TRACES/smtp-subject-utf8-q.pcap $PACKAGE && test -s smtp_dialect.log
# @TEST-EXEC: mkdir bare && cd bare && zeek -b -C -r $TRACES/smtp-subject-utf8-q.pcap $PACKAGE && test -s smtp_dialect.log
# @TEST-EXEC: cmp full/smtp_dialect.log bare/smtp_dialect.log
# @TEST-EXEC: ls bare >bare-files.txt
# @TEST-EXEC: btest-diff bare-files.txt
