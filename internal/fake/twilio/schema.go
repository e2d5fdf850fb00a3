package twilio

import (
	"fmt"
	"sort"
	"sync"

	"github.com/parleyhq/parley/internal/oas"
	"github.com/parleyhq/parley/internal/specs"
)

// createOp is the CreateMessage operation of Twilio's OpenAPI document.
const createOp = "/2010-04-01/Accounts/{AccountSid}/Messages.json"

const formType = "application/x-www-form-urlencoded"

type schemaSet struct {
	create *oas.Validator
	// params are CreateMessageRequest's properties: the only names Twilio
	// knows. The schema does not say additionalProperties: false, so the
	// validator alone would let a misspelt "Contentsid" through, which
	// Twilio silently ignores.
	params map[string]bool
	// required are the schema's required properties (To).
	required []string
}

var (
	schemaOnce sync.Once
	loaded     *schemaSet
	loadErr    error
)

func schemas() (*schemaSet, error) {
	schemaOnce.Do(func() { loaded, loadErr = loadSchemas() })
	return loaded, loadErr
}

func loadSchemas() (*schemaSet, error) {
	doc, err := oas.Load(specs.Path("twilio", "twilio_api_v2010_messages_subset.yaml"))
	if err != nil {
		return nil, err
	}
	s := &schemaSet{params: map[string]bool{}}
	if s.create, err = doc.RequestValidator("POST", createOp, formType); err != nil {
		return nil, err
	}
	ptr := "/paths/~12010-04-01~1Accounts~1{AccountSid}~1Messages.json/post/requestBody/content/application~1x-www-form-urlencoded/schema"
	schema, ok := doc.Lookup(ptr)
	m, _ := schema.(map[string]any)
	props, _ := m["properties"].(map[string]any)
	if !ok || len(props) == 0 {
		return nil, fmt.Errorf("fake twilio: no CreateMessageRequest properties at %s", ptr)
	}
	for name := range props {
		s.params[name] = true
	}
	req, _ := m["required"].([]any)
	for _, r := range req {
		if name, ok := r.(string); ok {
			s.required = append(s.required, name)
		}
	}
	sort.Strings(s.required)
	return s, nil
}
