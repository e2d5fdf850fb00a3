package metagraph

import (
	"fmt"
	"sync"

	"github.com/parleyhq/parley/internal/oas"
	"github.com/parleyhq/parley/internal/specs"
)

// Operations of Meta's OpenAPI document the fake checks bodies against.
const (
	messagesOp = "/{Version}/{Phone-Number-ID}/messages"
	mediaOp    = "/{Version}/{Phone-Number-ID}/media"
	// markReadSchema describes the read receipt. The messages operation
	// declares only Message as its body, which has no status/message_id,
	// although the operation's own "Send typing indicator and read
	// receipt" example posts one; this component, referenced by nothing,
	// is the document's description of that body.
	markReadSchema = "/components/schemas/MarkMessageRequestPayload"
)

// schemaPatches fix places where Meta's document contradicts itself, so
// that a correct request is not reported as a bug. Each is the smallest
// change that lets the documented request through; everything else is
// checked as published. internal/oas's TestOASSchemaBugs shows each
// problem against the unpatched document.
var schemaPatches = []struct {
	pointer string
	value   any
	why     string
}{
	{
		"/components/schemas/TemplateComponent/properties/index",
		map[string]any{"type": "string", "pattern": "^[0-9]$"},
		"the pattern ^[2-6, 11-14]$ is a character class that rejects \"0\", the schema's own example, for an index described as 0-9",
	},
	{
		"/components/schemas/ButtonComponent/allOf/1/properties/index",
		map[string]any{"type": "string", "pattern": "^[0-9]$"},
		"same pattern, repeated on the button component",
	},
	{
		"/components/schemas/BaseMessageProperties/properties/biz_opaque_callback_data",
		map[string]any{"type": "string", "maxLength": 512},
		"status webhooks echo biz_opaque_callback_data from the send (community fixture status-sent-biz-opaque-callback-data.json) but BaseMessageProperties omits it, so additionalProperties: false on each message type would reject it; the same document defines it for calls as a string of at most 512 characters",
	},
}

type schemaSet struct {
	doc      *oas.Document
	send     *oas.Validator
	markRead *oas.Validator
	upload   *oas.Validator
}

var (
	schemaOnce sync.Once
	loaded     *schemaSet
	loadErr    error
)

// schemas loads and patches Meta's OpenAPI document once per process.
func schemas() (*schemaSet, error) {
	schemaOnce.Do(func() { loaded, loadErr = loadSchemas() })
	return loaded, loadErr
}

func loadSchemas() (*schemaSet, error) {
	doc, err := oas.Load(specs.Path("meta", "business-messaging-api_v23.0.yaml"))
	if err != nil {
		return nil, err
	}
	for _, p := range schemaPatches {
		if err := doc.Patch(p.pointer, p.value); err != nil {
			return nil, fmt.Errorf("metagraph: %w (%s)", err, p.why)
		}
	}
	s := &schemaSet{doc: doc}
	if s.send, err = doc.RequestValidator("POST", messagesOp, "application/json"); err != nil {
		return nil, err
	}
	if s.markRead, err = doc.SchemaValidator(markReadSchema); err != nil {
		return nil, err
	}
	if s.upload, err = doc.RequestValidator("POST", mediaOp, "multipart/form-data"); err != nil {
		return nil, err
	}
	return s, nil
}

// Document returns Meta's OpenAPI document with the fake's patches, for
// tests that check other bodies (responses, webhooks) against it.
func Document() (*oas.Document, error) {
	s, err := schemas()
	if err != nil {
		return nil, err
	}
	return s.doc, nil
}
