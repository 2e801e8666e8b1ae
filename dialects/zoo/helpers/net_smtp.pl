#!/usr/bin/perl
# Send one message with Perl's Net::SMTP (libnet), one RCPT per recipient,
# STARTTLS (IO::Socket::SSL) when the server offers it and the run asks for it.
# Usage: net_smtp.pl SPEC.json
use strict;
use warnings;
use JSON::PP;
use Net::SMTP;

open(my $fh, '<', $ARGV[0]) or die "spec: $!";
my $spec = decode_json(do { local $/; <$fh> });
my $smtp = Net::SMTP->new($spec->{host}, Port => $spec->{port}, Hello => $spec->{helo}, Timeout => 30)
    or die "connect: $@";
if ($spec->{starttls} && defined $smtp->supports('STARTTLS')) {
    $smtp->starttls(SSL_verify_mode => 0) or die "starttls failed";
}
my $ok = 0;
if ($smtp->mail($spec->{sender})) {
    for my $rcpt (@{ $spec->{recipients} }) {
        $ok++ if $smtp->to($rcpt);
    }
    if ($ok && $smtp->data()) {
        my $msg = $spec->{message};
        $smtp->datasend($msg);
        $smtp->dataend();
    } else {
        $smtp->reset();
    }
}
$smtp->quit;
