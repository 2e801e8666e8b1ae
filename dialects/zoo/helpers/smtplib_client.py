"""Send one message with the standard library's smtplib, the way applications do.

Usage: smtplib_client.py SPEC.json  (written by the zoo: host, port, helo, sender,
recipients, message, mode = sendmail | send_message, use_starttls).
"""

import email
import json
import smtplib
import ssl
import sys

spec = json.load(open(sys.argv[1]))
try:
    with smtplib.SMTP(spec["host"], spec["port"], local_hostname=spec["helo"], timeout=30) as smtp:
        if spec["use_starttls"]:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                smtp.starttls(context=context)
                smtp.ehlo()
        if spec["mode"] == "sendmail":
            refused = smtp.sendmail(spec["sender"], spec["recipients"], spec["message"].encode())
        else:
            message = email.message_from_string(spec["message"].replace("\r\n", "\n"))
            refused = smtp.send_message(message, spec["sender"], spec["recipients"])
        print("refused:", refused)
except smtplib.SMTPException as exc:
    print("smtp error:", exc)
    sys.exit(75)
