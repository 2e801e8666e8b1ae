# @TEST-DOC: The package loads in Zeek without a capture (parse and type checks) and its options are redef-able.
# @TEST-EXEC: zeek -b $PACKAGE %INPUT >output
# @TEST-EXEC: btest-diff output

redef SmtpDialect::max_bytes = 4096;

event zeek_init()
	{
	print SmtpDialect::ports, SmtpDialect::max_bytes, SmtpDialect::max_chunks,
	    SmtpDialect::stop_at_end, SmtpDialect::schema_version;
	print tcp_content_delivery_ports_orig, tcp_content_delivery_ports_resp;
	}
