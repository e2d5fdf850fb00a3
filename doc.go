// Package parley holds Parley's domain: the types every other package
// speaks (tenants, channels, contacts, conversations, messages, templates,
// consent), the WhatsApp platform rules that no caller may bypass, and the
// error codes that the HTTP layer maps to statuses in one place.
//
// The package imports no adapter. Storage lives in store, the job queue in
// jobs, providers under whatsapp, and the HTTP API in httpapi; cmd/parley
// ties them together. Keeping the rules here, as plain functions over plain
// values, is what lets the API, the console and automation share them: none
// of them can send free text into a closed window, because the only way to
// queue a message goes through these checks.
package parley
