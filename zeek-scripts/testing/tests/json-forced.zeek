# @TEST-DOC: The log is JSON with epoch times whatever the site's LogAscii settings; other logs keep them.
# @TEST-EXEC: zeek -C -r $TRACES/smtp-starttls.pcap $PACKAGE %INPUT
# @TEST-EXEC: btest-diff smtp_dialect.log
# @TEST-EXEC: head -1 conn.log | grep -q '^#separator'

redef LogAscii::use_json = F;
redef LogAscii::json_timestamps = JSON::TS_ISO8601;
redef LogAscii::json_include_unset_fields = T;
