// Preload (node --require): the conformance suite's mock servers call listen(0) with no
// host, which binds every interface. Pin such listens to the loopback address so a test
// run never opens a port to the network.
//
// The suite reads server.address() right after listen(0), so the bind must stay
// synchronous: with a host, net.Server#listen resolves it through dns.lookup (always
// asynchronous), so for the duration of the call the lookup of the loopback literal
// answers at once.
"use strict";
const dns = require("node:dns");
const net = require("node:net");

const LOOPBACK = "127.0.0.1";
const originalListen = net.Server.prototype.listen;

function withHost(args) {
  const first = args[0];
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    if (typeof args[1] !== "string") args.splice(1, 0, LOOPBACK);
  } else if (first !== null && typeof first === "object" && first.path === undefined) {
    if (first.host === undefined) args[0] = { ...first, host: LOOPBACK };
  } else if (args.length === 0 || typeof first === "function") {
    args.unshift(0, LOOPBACK);
  }
  return args;
}

net.Server.prototype.listen = function listen(...args) {
  const savedLookup = dns.lookup;
  dns.lookup = function lookup(hostname, options, callback) {
    const cb = typeof options === "function" ? options : callback;
    if (hostname === LOOPBACK && typeof cb === "function") {
      if (options !== null && typeof options === "object" && options.all) {
        cb(null, [{ address: LOOPBACK, family: 4 }]);
      } else {
        cb(null, LOOPBACK, 4);
      }
      return {};
    }
    return savedLookup.apply(this, arguments);
  };
  try {
    return originalListen.apply(this, withHost(args));
  } finally {
    dns.lookup = savedLookup;
  }
};
