##! B@bel sensor: the exact bytes of every SMTP conversation, for dialect matching.
##!
##! Input: the reassembled, in-order TCP byte streams of both directions
##! (:zeek:see:`tcp_contents`) of connections to :zeek:see:`SmtpDialect::ports`;
##! holes come from :zeek:see:`content_gap`, from the chunks' sequence numbers
##! and from the weirds after which Zeek's reassembler stops delivering.
##!
##! Output: ``smtp_dialect.log``, one JSON object per connection that carried
##! payload, written once, as soon as recording stops: the ordered chunks of
##! both directions exactly as Zeek delivered them (timestamp, direction,
##! relative sequence number, base64 of the bytes), how the conversation
##! ended and whether bytes are missing. The layout is documented field by
##! field in zeek-scripts/README.md; a consumer rebuilds each direction's byte
##! stream by concatenating the decoded chunks of that direction.
##!
##! Invariants:
##! - What is recorded of each direction is an exact prefix of the stream Zeek
##!   delivered: chunks are never altered, merged, split or reordered; only the
##!   chunk that hits the byte cap is cut, at the cap.
##! - Recording stops for the whole connection at the end of the SMTP
##!   conversation (server 354 after a client DATA, the first client BDAT,
##!   server 220 after a client STARTTLS; after QUIT it goes on until the
##!   connection closes), at the first gap, or at a cap. Nothing is recorded
##!   across a gap.
##! - State lives in the connection record only: no global tables, no
##!   manager or proxy state; on a cluster every worker logs its own flows.
##!
##! What it deliberately does not know: SMTP syntax beyond the few end-of-
##! conversation markers, which it finds on raw lines (a line ends at LF; the
##! verb is the text before the first SP, HT or CR, compared case-insensitively;
##! a server line ``ddd-`` continues a reply, any other line ends it). Zeek's
##! own SMTP analyzer normalises lines and verbs, so its events cannot carry
##! a dialect; this script never looks at them. AUTH exchanges are recorded
##! as they are: the log holds credentials when the traffic does.

@load base/frameworks/logging

module SmtpDialect;

export {
	redef enum Log::ID += { LOG };

	## Policy hook for the log stream (see :zeek:see:`Log::PolicyHook`).
	global log_policy: Log::PolicyHook;

	## Responder ports whose conversations are recorded. This script enables
	## TCP content delivery for 25/tcp and 587/tcp at parse time. Content
	## delivery is configured only by redef of Zeek constants, so a port added
	## here must also be added to :zeek:see:`tcp_content_delivery_ports_orig`
	## and :zeek:see:`tcp_content_delivery_ports_resp`, e.g.
	## ``redef tcp_content_delivery_ports_orig += { [2525/tcp] = T };``.
	const ports: set[port] = {
		25/tcp,
		587/tcp
	} &redef;

	## At most this many bytes are recorded per direction and connection.
	## The chunk that crosses the cap is cut at the cap, recording stops and
	## the record is flagged ``incomplete`` with reason ``cap``.
	option max_bytes: count = 65536;

	## At most this many chunks (both directions together) are recorded per
	## connection. A further chunk stops recording; the record is flagged
	## ``incomplete`` with reason ``chunks``. Chunks are Zeek's deliveries,
	## typically one per TCP segment that completes in-order data.
	option max_chunks: count = 4096;

	## If true, recording stops at the end of the SMTP conversation (start of
	## message content, TLS, or the close after QUIT). If false, it goes on
	## until a cap, a gap or the end of the connection, and ``end`` still
	## names the first end of conversation seen.
	option stop_at_end: bool = T;

	## Version of the log layout; bumped on any incompatible change.
	const schema_version = 1;

	## One log record per connection.
	type Info: record {
		## Time of the connection's first packet.
		ts: time &log;
		## Zeek's connection identifier.
		uid: string &log;
		## Addresses and ports: ``orig`` is Zeek's originator (the SMTP
		## client), ``resp`` the responder (the SMTP server).
		id: conn_id &log;
		## Version of this layout (:zeek:see:`SmtpDialect::schema_version`).
		schema_version: count &log;
		## Per chunk, in delivery order: network time of the delivery.
		chunk_ts: vector of time &log;
		## Per chunk: ``c`` (originator to responder) or ``s`` (responder
		## to originator).
		chunk_dir: vector of string &log;
		## Per chunk: Zeek's relative TCP sequence number of its first byte
		## (the first payload byte after the SYN is 1).
		chunk_seq: vector of count &log;
		## Per chunk: the exact bytes, base64 (RFC 4648, padded).
		chunk_data: vector of string &log;
		## Bytes recorded from the originator (sum over ``c`` chunks).
		orig_bytes: count &log;
		## Bytes recorded from the responder (sum over ``s`` chunks).
		resp_bytes: count &log;
		## How the conversation ended (``data``, ``bdat``, ``starttls``,
		## ``quit``, ``close``, ``reset``, ``timeout``, ``eof``) or why
		## recording stopped before it did (``gap``, ``cap``, ``chunks``).
		## Always set in the log (see README).
		end: string &log &optional;
		## True when bytes of the conversation are missing from the record
		## (a gap, a reassembly limit, or a cap cut it short).
		incomplete: bool &log;
		## Why the record is incomplete: ``gap``, ``cap``, ``chunks`` or the
		## name of the Zeek reassembly weird. Absent when complete.
		reason: string &log &optional;
		## True when Zeek saw no SYN from the originator (picked up mid-stream).
		mid_stream: bool &log;
	};

	## Raised for every record written to :zeek:see:`SmtpDialect::LOG`.
	global log_smtp_dialect: event(rec: Info);
}

## Per-connection state, kept in the connection record.
type State: record {
	info: Info;
	## Unterminated end of the last originator / responder line (capped).
	c_tail: string &default="";
	s_tail: string &default="";
	## Completed server replies so far; reply 0 is the banner.
	s_replies: count &default=0;
	## Relative sequence number the next originator / responder chunk must
	## start at (Zeek numbers the first payload byte 1, also mid-stream).
	c_next: count &default=1;
	s_next: count &default=1;
	data_sent: bool &default=F;
	starttls_sent: bool &default=F;
	## First end of conversation seen (``quit``, or any when not stopping).
	conv_end: string &default="";
	## Recording has stopped and the record has been handled.
	done: bool &default=F;
};

redef record connection += {
	smtp_dialect: State &optional;
};

# Content delivery for the default ports (see SmtpDialect::ports).
redef tcp_content_delivery_ports_orig += {
	[25/tcp] = T,
	[587/tcp] = T
};
redef tcp_content_delivery_ports_resp += {
	[25/tcp] = T,
	[587/tcp] = T
};

## An unterminated line is kept only up to this many bytes: enough for the
## verb or reply code at its start, which is all the end detection reads.
const max_tail = 64;

## Weirds after which Zeek's TCP reassembler stops delivering a direction.
const reassembly_stops: set[string] = {
	"above_hole_data_without_any_acks",
	"excessive_data_without_further_acks",
};

## ASCII writer settings of this stream, overriding the site's LogAscii ones.
const writer_config: table[string] of string = {
	["use_json"] = "T",
	["json_timestamps"] = "JSON::TS_EPOCH",
	["json_include_unset_fields"] = "F",
};

event zeek_init() &priority=5
	{
	Log::create_stream(LOG, [$columns=Info, $ev=log_smtp_dialect,
	    $path="smtp_dialect", $policy=log_policy]);

	# This stream is JSON lines whatever the site's LogAscii settings: the
	# default filter keeps its name and path but gets its own writer config.
	local f = Log::get_filter(LOG, "default");
	f$writer = Log::WRITER_ASCII;
	f$config = copy(writer_config);
	Log::add_filter(LOG, f);
	}

function get_state(c: connection): State
	{
	if ( ! c?$smtp_dialect )
		{
		local info = Info($ts=c$start_time, $uid=c$uid, $id=c$id,
		    $schema_version=schema_version, $chunk_ts=vector(),
		    $chunk_dir=vector(), $chunk_seq=vector(),
		    $chunk_data=vector(), $orig_bytes=0, $resp_bytes=0,
		    $incomplete=F, $mid_stream=F);
		c$smtp_dialect = State($info=info);
		}

	return c$smtp_dialect;
	}

## Stops recording and writes the record (if it holds anything), once.
function finish(c: connection, st: State, end_: string)
	{
	if ( st$done )
		return;

	st$done = T;
	st$info$end = end_;
	st$info$mid_stream = "S" !in c$history;

	if ( |st$info$chunk_data| > 0 || st$info$incomplete )
		Log::write(LOG, st$info);

	# The record is written: free the buffers, keep the flag.
	st$info$chunk_ts = vector();
	st$info$chunk_dir = vector();
	st$info$chunk_seq = vector();
	st$info$chunk_data = vector();
	st$c_tail = "";
	st$s_tail = "";
	}

## Stops recording because bytes are missing or a cap was hit. ``end``
## keeps a conversation end seen before (possible when not stopping at it).
function mark_incomplete(c: connection, st: State, reason: string, end_: string)
	{
	st$info$incomplete = T;
	st$info$reason = reason;
	finish(c, st, st$conv_end != "" ? st$conv_end : end_);
	}

## The verb of a client line: up to the first SP, HT or CR, upper-cased.
function verb_of(line: string): string
	{
	return to_upper(split_string1(line, /[ \t\r]/)[0]);
	}

## Looks at one complete client line; returns an end of conversation or "".
function client_line(st: State, line: string): string
	{
	switch ( verb_of(line) )
		{
		case "DATA":
			st$data_sent = T;
			break;
		case "BDAT":
			return "bdat";
		case "STARTTLS":
			st$starttls_sent = T;
			break;
		case "QUIT":
			return "quit";
		}

	return "";
	}

## Looks at one complete server line; returns an end of conversation or "".
function server_line(st: State, line: string): string
	{
	if ( |line| >= 4 && line[3] == "-" )
		return ""; # continuation of a multi-line reply

	local index = st$s_replies;
	++st$s_replies;
	local code = line[:3];

	if ( code == "354" && st$data_sent )
		return "data";

	# Reply 0 is the banner, which is a 220 as well.
	if ( code == "220" && st$starttls_sent && index > 0 )
		return "starttls";

	return "";
	}

## Splits new bytes of one direction into lines and looks for the end of the
## conversation. Returns the first end found, or "".
function scan(st: State, is_orig: bool, data: string): string
	{
	local buf = ( is_orig ? st$c_tail : st$s_tail ) + data;
	local found = "";

	while ( found == "" )
		{
		local i = strstr(buf, "\n");

		if ( i == 0 )
			break;

		local line = buf[: i - 1];
		buf = buf[i:];
		found = is_orig ? client_line(st, line) : server_line(st, line);
		}

	if ( |buf| > max_tail )
		buf = buf[:max_tail];

	if ( is_orig )
		st$c_tail = buf;
	else
		st$s_tail = buf;

	return found;
	}

event tcp_contents(c: connection, is_orig: bool, seq: count, contents: string)
	{
	if ( c$id$resp_p !in ports )
		return;

	local st = get_state(c);

	if ( st$done )
		return;

	local info = st$info;

	# Zeek does not raise content_gap for every hole (not for partial
	# connections, for instance): check the sequence numbers as well.
	if ( seq != ( is_orig ? st$c_next : st$s_next ) )
		{
		mark_incomplete(c, st, "gap", "gap");
		return;
		}

	if ( |info$chunk_data| >= max_chunks )
		{
		mark_incomplete(c, st, "chunks", "chunks");
		return;
		}

	local used = is_orig ? info$orig_bytes : info$resp_bytes;
	local data = contents;
	local capped = F;

	if ( used + |data| > max_bytes )
		{
		data = data[: max_bytes - used];
		capped = T;
		}

	if ( |data| > 0 )
		{
		info$chunk_ts += network_time();
		info$chunk_dir += is_orig ? "c" : "s";
		info$chunk_seq += seq;
		info$chunk_data += encode_base64(data);

		if ( is_orig )
			{
			info$orig_bytes += |data|;
			st$c_next = seq + |data|;
			}
		else
			{
			info$resp_bytes += |data|;
			st$s_next = seq + |data|;
			}
		}

	if ( capped )
		{
		mark_incomplete(c, st, "cap", "cap");
		return;
		}

	local end_ = scan(st, is_orig, data);

	if ( end_ == "" || st$conv_end != "" )
		return;

	st$conv_end = end_;

	# After QUIT the server's answer and the close still belong to the
	# conversation: keep recording until the connection ends.
	if ( stop_at_end && end_ != "quit" )
		finish(c, st, end_);
	}

event content_gap(c: connection, is_orig: bool, seq: count, length: count)
	{
	if ( c$id$resp_p !in ports )
		return;

	local st = get_state(c);

	if ( ! st$done )
		mark_incomplete(c, st, "gap", "gap");
	}

event conn_weird(name: string, c: connection, addl: string, source: string)
	{
	if ( name !in reassembly_stops || c$id$resp_p !in ports )
		return;

	local st = get_state(c);

	if ( ! st$done )
		mark_incomplete(c, st, name, "gap");
	}

event connection_state_remove(c: connection)
	{
	if ( ! c?$smtp_dialect || c$smtp_dialect$done )
		return;

	local st = c$smtp_dialect;
	local end_: string;

	if ( st$conv_end != "" )
		end_ = st$conv_end;
	else if ( /[Rr]/ in c$history )
		end_ = "reset";
	else if ( /[Ff]/ in c$history )
		end_ = "close";
	else if ( zeek_is_terminating() )
		end_ = "eof";
	else
		end_ = "timeout";

	finish(c, st, end_);
	}
