// A webhook receiver written as the Inbox docs show (Webhooks > Setting Up Webhooks, and
// Security > Signature Verification), on node's built-in http module instead of Express.
//
// Environment: PORT (loopback port to listen on), INBOX_WEBHOOK_SECRET (the webhook's secret).
// Prints one JSON line per request on stdout: {"status", "type", "id"}; "listening" when ready.
'use strict';

const http = require('http');
const crypto = require('crypto');

// ---- copied verbatim from the docs (Security > Signature Verification) ----
function verifySignature(payload, signature, secret) {
  const expectedSignature = crypto
    .createHmac('sha256', secret)
    .update(payload, 'utf8')
    .digest('hex');
  
  const receivedSignature = signature.replace('sha256=', '');
  
  return crypto.timingSafeEqual(
    Buffer.from(expectedSignature, 'hex'),
    Buffer.from(receivedSignature, 'hex')
  );
}
// ---- end of the docs' code ----

const handled = [];
function handleMessageDelivered(data) { handled.push(['message.delivered', data]); }
function handleMessageRead(data) { handled.push(['message.read', data]); }

function report(status, event) {
  const line = { status: status, type: event ? event.type : null, id: event ? event.id : null };
  process.stdout.write(JSON.stringify(line) + '\n');
}

// The docs' Express handler: app.post('/webhooks/inbox', express.raw({type: 'application/json'}), ...)
// express.raw hands the handler the raw body as a Buffer; so does this.
function handler(req, res) {
  const signature = req.headers['x-inbox-signature'];
  const payload = req.body;

  // Verify signature (see security section)
  if (!verifySignature(payload, signature, process.env.INBOX_WEBHOOK_SECRET)) {
    report(401, null);
    res.statusCode = 401;
    return res.end('Unauthorized');
  }

  const event = JSON.parse(payload);

  // Handle the event
  switch (event.type) {
    case 'message.delivered':
      handleMessageDelivered(event.data);
      break;
    case 'message.read':
      handleMessageRead(event.data);
      break;
    default:
      console.log('Unhandled event type:', event.type);
  }

  report(200, event);
  res.statusCode = 200;
  res.end('OK');
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/webhooks/inbox') {
    res.statusCode = 404;
    return res.end('Not Found');
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    req.body = Buffer.concat(chunks);
    try {
      handler(req, res);
    } catch (err) {
      // what Express's default error handler does with a thrown error
      report(500, null);
      res.statusCode = 500;
      res.end('Internal Server Error');
    }
  });
});

server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  process.stdout.write('listening\n');
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
