# Send one message with Ruby's net-smtp, STARTTLS when offered (starttls runs).
# Usage: ruby net_smtp.rb SPEC.json
require 'json'
require 'net/smtp'
require 'openssl'

spec = JSON.parse(File.read(ARGV[0]))
smtp = Net::SMTP.new(spec['host'], spec['port'])
if spec['starttls']
  context = OpenSSL::SSL::SSLContext.new
  context.verify_mode = OpenSSL::SSL::VERIFY_NONE
  smtp.enable_starttls_auto(context)
else
  smtp.disable_starttls
end
smtp.open_timeout = 30
smtp.read_timeout = 30
begin
  smtp.start(spec['helo']) do |s|
    s.send_message(spec['message'], spec['sender'], *spec['recipients'])
  end
rescue Net::SMTPError, Net::ReadTimeout => e
  puts "smtp error: #{e.class}: #{e.message}"
  exit 75
end
