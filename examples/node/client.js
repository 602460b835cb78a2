#!/usr/bin/env node
// A Node.js client of bitunix-gateway: loads the .proto files at run time, streams N trades from
// bitunix-marketdata, then (with a bearer token) places a LIMIT order under a client id through
// bitunix-orders and cancels it.
//
//   NODE_PATH=tools/npm/node_modules node examples/node/client.js --md 127.0.0.1:50051 --count 20
//   BITUNIX_GATEWAY_TOKEN=... NODE_PATH=tools/npm/node_modules node examples/node/client.js \
//       --md 127.0.0.1:50051 --orders 127.0.0.1:50052 --symbol BTCUSDT --qty 0.01 --price 20000
//
// Options: --md ADDR, --orders ADDR, --symbol SYM, --count N, --qty Q, --price P, --client-id ID,
// --token-file FILE (else $BITUNIX_GATEWAY_TOKEN; without a token no order is placed).
// Exit status: 0 done, 2 bad usage or a refused request, 1 anything else.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { parseArgs } = require('util');

let grpc, protoLoader;
try {
  grpc = require('@grpc/grpc-js');
  protoLoader = require('@grpc/proto-loader');
} catch (e) {
  console.error(`client.js: ${e.message}\n` +
    'Install the two npm packages: `npm install` in examples/node, or run with\n' +
    'NODE_PATH=tools/npm/node_modules (scripts/bootstrap installs them there). See examples/README.md.');
  process.exit(2);
}

const { values: opt } = parseArgs({
  options: {
    md: { type: 'string', default: '127.0.0.1:50051' },
    orders: { type: 'string', default: '127.0.0.1:50052' },
    symbol: { type: 'string', default: 'BTCUSDT' },
    count: { type: 'string', default: '10' },
    qty: { type: 'string', default: '0.01' },
    price: { type: 'string', default: '20000' },
    'client-id': { type: 'string' },
    'token-file': { type: 'string' },
  },
});

// The protos are the API: load them as they are, no generated code. Enums as names, 64-bit
// integers as strings (seq is a fixed64), oneofs with a `payload` field naming the set member.
const PROTO_DIR = process.env.BITUNIX_PROTO_DIR || path.join(__dirname, '..', '..', 'proto');
const definition = protoLoader.loadSync(
  ['bitunix/marketdata/v1/marketdata.proto', 'bitunix/orders/v1/orders.proto'],
  { includeDirs: [PROTO_DIR], enums: String, longs: String, defaults: true, oneofs: true });
const bitunix = grpc.loadPackageDefinition(definition).bitunix;
const { status } = grpc;

// Streams trades until `count` arrived. Checks seq; on a stream error (e.g. UNAVAILABLE while the
// service restarts) subscribes again with backoff; a new stream counts seq from 1 again.
function watchTrades(address, symbol, count) {
  const client = new bitunix.marketdata.v1.MarketDataService(address, grpc.credentials.createInsecure());
  let seen = 0;
  let backoffMs = 250;
  return new Promise((resolve, reject) => {
    const subscribe = () => {
      let expected = 1n;
      let done = false;
      const call = client.Subscribe({ symbols: [symbol], channels: ['CHANNEL_TRADE'] });
      call.on('data', (batch) => {
        for (const ev of batch.events) {
          if (done) return;
          if (BigInt(ev.seq) !== expected) {
            // Cannot happen with a correct server; a stream with a hole cannot be trusted.
            console.log(`seq ${ev.seq}, expected ${expected}: resubscribing`);
            done = true;
            call.cancel();
            setTimeout(subscribe, backoffMs);
            return;
          }
          expected += 1n;
          if (ev.payload === 'trade') {
            backoffMs = 250;
            const t = ev.trade;
            console.log(`seq=${ev.seq} ${ev.symbol} trade ${t.qty} @ ${t.price} ${t.side.replace('SIDE_', '')}`);
            if (++seen >= count) {
              done = true;
              call.cancel();
              console.log(`trades done: ${seen} trades, seq continuous`);
              client.close();
              resolve();
              return;
            }
          } else if (ev.payload === 'status') {
            // RECONNECTING/STALE: trades may be missing until RECOVERED.
            console.log(`seq=${ev.seq} status ${ev.status.state} ${ev.status.reason}`);
          } else if (ev.payload === 'gap') {
            // Trades in a gap are lost for this stream (not replayed).
            console.log(`seq=${ev.seq} gap ${ev.gap.reason} missed=${ev.gap.missedEvents}`);
          }
        }
      });
      call.on('error', (err) => {
        if (done) return; // our own cancel
        done = true;
        if ([status.INVALID_ARGUMENT, status.UNAUTHENTICATED, status.PERMISSION_DENIED].includes(err.code)) {
          client.close();
          reject(err);
          return;
        }
        const delay = backoffMs / 2 + Math.random() * backoffMs / 2;
        console.log(`stream ended: ${status[err.code]}: ${err.details}; resubscribing in ${Math.round(delay)} ms`);
        backoffMs = Math.min(backoffMs * 2, 10000);
        setTimeout(subscribe, delay);
      });
      call.on('end', () => {
        if (!done) {
          done = true;
          setTimeout(subscribe, backoffMs);
        }
      });
    };
    subscribe();
  });
}

// One unary call with a deadline, as a promise.
function call(client, method, request, metadata, seconds = 10) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline: Date.now() + seconds * 1000 },
      (err, response) => (err ? reject(err) : resolve(response)));
  });
}

// What the gateway says about a failed call: the exchange code and the gateway's reason are also
// sent as plain trailers (the rich google.rpc.Status details carry the same ExchangeError).
function explain(err) {
  const get = (k) => (err.metadata && err.metadata.get(k)[0]) || '-';
  return `${status[err.code]}: exchange code ${get('x-bitunix-code')} reason ${get('x-gateway-reason')}: ${err.details}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const FINAL = ['ORDER_STATUS_FILLED', 'ORDER_STATUS_CANCELED', 'ORDER_STATUS_PART_FILLED_CANCELED',
  'ORDER_STATUS_EXPIRED', 'ORDER_STATUS_SYSTEM_CANCELED'];

async function placeAndCancel(token) {
  const client = new bitunix.orders.v1.OrderService(opt.orders, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  md.add('authorization', `Bearer ${token}`);
  // The client id is chosen once and reused on every retry: it is what makes a retry safe. A lost
  // answer (UNAVAILABLE, DEADLINE_EXCEEDED) or PLACE_RESULT_UNKNOWN means the order may exist; the
  // same id brings that order back (PLACE_RESULT_DUPLICATE) instead of placing a second one.
  const clientId = opt['client-id'] || `node-${crypto.randomBytes(10).toString('hex')}`;
  console.log(`clientId=${clientId}`);
  const request = { symbol: opt.symbol, side: 'SIDE_BUY', type: 'ORDER_TYPE_LIMIT', qty: opt.qty, price: opt.price, clientId };
  let placed;
  for (let attempt = 1, backoffMs = 500; !placed; attempt++, backoffMs = Math.min(backoffMs * 2, 5000)) {
    try {
      const r = await call(client, 'PlaceOrder', request, md);
      if (r.result === 'PLACE_RESULT_UNKNOWN') {
        console.log(`attempt ${attempt}: ${r.result}: retrying with the same clientId`);
      } else {
        console.log(`attempt ${attempt}: ${r.result} orderId=${r.orderId} clientId=${r.clientId}`);
        placed = r;
      }
    } catch (err) {
      if (![status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED].includes(err.code)) {
        // Refused (validation, balance, ALREADY_EXISTS: the id belongs to another order): stop.
        console.log(`refused: ${explain(err)}`);
        client.close();
        return 2;
      }
      console.log(`attempt ${attempt}: ${explain(err)}: outcome unknown; retrying with the same clientId`);
    }
    if (!placed) await sleep(backoffMs);
  }
  const cancel = await call(client, 'CancelOrders', { symbol: opt.symbol, orders: [{ clientId }] }, md);
  console.log(`cancel accepted=${cancel.results[0].accepted}`);
  // A cancel that succeeded was taken by the exchange; read the order back for its final state.
  for (;;) {
    const { order } = await call(client, 'GetOrder', { order: { clientId } }, md);
    if (FINAL.includes(order.status)) {
      console.log(`final: orderId=${order.orderId} clientId=${order.clientId} status=${order.status}`);
      client.close();
      return order.status === 'ORDER_STATUS_CANCELED' ? 0 : 1;
    }
    await sleep(200);
  }
}

async function main() {
  const count = Number.parseInt(opt.count, 10);
  if (!(count > 0)) {
    console.error('client.js: --count must be a positive integer');
    return 2;
  }
  await watchTrades(opt.md, opt.symbol, count);
  const token = opt['token-file'] ? fs.readFileSync(opt['token-file'], 'utf8').trim()
    : (process.env.BITUNIX_GATEWAY_TOKEN || '').trim();
  if (!token) {
    console.log('no token (--token-file or BITUNIX_GATEWAY_TOKEN): not placing an order');
    return 0;
  }
  return placeAndCancel(token); // the token itself is never printed
}

main().then((code) => { process.exitCode = code; }, (err) => {
  console.error(`failed: ${err.code !== undefined ? explain(err) : err.stack}`);
  process.exitCode = err.code === status.INVALID_ARGUMENT ? 2 : 1;
});
