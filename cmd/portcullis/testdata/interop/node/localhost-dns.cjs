// Preloaded by the interop test (node -r ./localhost-dns.cjs) so that
// NAME.localhost resolves to the loopback address, as RFC 6761 says and as
// systemd-resolved, curl and browsers do, but glibc without systemd does not.
// It stands in for a line "127.0.0.1 NAME.localhost" in /etc/hosts; the
// Microsoft clients themselves are not touched.
"use strict";
const dns = require("node:dns");
const orig = dns.lookup;
dns.lookup = function lookup(hostname, options, callback) {
  if (typeof options === "function") {
    callback = options;
    options = {};
  }
  if (typeof options === "number") options = { family: options };
  if (typeof hostname === "string" && hostname.toLowerCase().endsWith(".localhost")) {
    if (options && options.all) return process.nextTick(callback, null, [{ address: "127.0.0.1", family: 4 }]);
    return process.nextTick(callback, null, "127.0.0.1", 4);
  }
  return orig.call(this, hostname, options, callback);
};
