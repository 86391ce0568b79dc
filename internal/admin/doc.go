// Package admin is Petrel's HTTP interface for operators: the admin API,
// JSON under /api/v1 and described by the OpenAPI document it serves at
// /api/v1/openapi.json, and the health endpoints /healthz and /readyz.
//
// The API reads and changes a running broker through broker.Server's
// public methods: broker information and statistics, clients (and kicking
// them), sessions online and offline (and deleting them), subscriptions,
// retained messages, publishing as the server, bans, the log level and
// packet tracing, reloading the configuration and draining the broker.
// What belongs to the process rather than the broker (the log level, the
// configuration, the decision to exit) comes in through Options.
//
// Every list is paginated the same way: limit (1 to 1000, default 100)
// and after, the opaque cursor the previous page returned as next.
//
// Requests are authenticated by a Guard: an API key as a bearer token, or
// a user of the password file named as an API user, with HTTP Basic.
//
// # Imports
//
// admin imports the broker's public API, plugin and packet; it never
// imports Prometheus (internal/metrics/prom serves /metrics) nor config.
package admin
