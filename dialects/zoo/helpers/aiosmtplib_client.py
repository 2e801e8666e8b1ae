"""Send one message with aiosmtplib (PyPI), STARTTLS when the server offers it.

Usage: aiosmtplib_client.py SPEC.json
"""

import asyncio
import json
import ssl
import sys

import aiosmtplib

spec = json.load(open(sys.argv[1]))


async def main() -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    errors, response = await aiosmtplib.send(
        spec["message"].encode(),
        sender=spec["sender"],
        recipients=spec["recipients"],
        hostname=spec["host"],
        port=spec["port"],
        local_hostname=spec["helo"],
        start_tls=None,  # the default: upgrade when STARTTLS is advertised
        tls_context=context,
        timeout=30,
    )
    print(errors, response)


try:
    asyncio.run(main())
except aiosmtplib.SMTPException as exc:
    print("smtp error:", exc)
    sys.exit(75)
