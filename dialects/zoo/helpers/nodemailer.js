// Send one message with nodemailer (npm); STARTTLS when offered on starttls runs.
// Usage: node nodemailer.js SPEC.json   (NODE_PATH points at the zoo's npm cache)
const fs = require('fs');
const nodemailer = require('nodemailer');

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const transport = nodemailer.createTransport({
  host: spec.host,
  port: spec.port,
  secure: false,
  name: spec.helo,
  ignoreTLS: !spec.starttls,
  tls: { rejectUnauthorized: false },
  connectionTimeout: 30000,
});
transport.sendMail({
  envelope: { from: spec.sender, to: spec.recipients },
  raw: spec.message,
}).then((info) => {
  console.log('sent', info.response, 'rejected', info.rejected);
}).catch((err) => {
  console.log('smtp error:', err.message);
  process.exit(75);
});
