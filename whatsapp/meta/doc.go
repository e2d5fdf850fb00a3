// Package meta connects channels through Meta's WhatsApp Cloud API: it
// verifies and parses webhooks (X-Hub-Signature-256 over the raw body), and
// sends, uploads, downloads and lists templates through the Graph API.
//
// Every request body it sends is valid against Meta's published OpenAPI
// document; the tests prove it against a fake Graph server that checks each
// request (internal/fake/metagraph).
package meta
