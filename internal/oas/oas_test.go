package oas_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/parleyhq/parley/internal/oas"
	"github.com/parleyhq/parley/internal/specs"
)

const (
	messagesPath = "/{Version}/{Phone-Number-ID}/messages"
	markReadPtr  = "/components/schemas/MarkMessageRequestPayload"
)

var (
	metaOnce sync.Once
	metaDoc  *oas.Document
	metaErr  error
)

// meta loads Meta's official document once per test binary: the YAML is
// over 1 MB. Tests that patch it load their own copy.
func meta(t *testing.T) *oas.Document {
	t.Helper()
	metaOnce.Do(func() { metaDoc, metaErr = oas.Load(specs.Path("meta", "business-messaging-api_v23.0.yaml")) })
	if metaErr != nil {
		t.Fatal(metaErr)
	}
	return metaDoc
}

func validator(t *testing.T, d *oas.Document, method, path, ct string) *oas.Validator {
	t.Helper()
	v, err := d.RequestValidator(method, path, ct)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type example struct {
	ContentType string          `json:"content_type"`
	Value       json.RawMessage `json:"value"`
}

type examples struct {
	Path     string                        `json:"path"`
	Method   string                        `json:"method"`
	Request  map[string]example            `json:"request_examples"`
	Response map[string]map[string]example `json:"response_examples"`
}

func readExamples(t *testing.T, name string) examples {
	t.Helper()
	var ex examples
	if err := json.Unmarshal(specs.Read(t, "meta", "openapi-examples", name), &ex); err != nil {
		t.Fatal(err)
	}
	return ex
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// invalidSendExamples are the official send examples that the official
// Message schema rejects, each with the problem that proves it. They are
// not bugs in the validator: the examples and the schema in Meta's
// document disagree, and a body our adapter sends must satisfy the schema.
var invalidSendExamples = map[string][]string{
	// BaseMessageProperties requires recipient_type (the separate, unused
	// MessageRequest schema defaults it to "individual"); our adapter
	// always sends it.
	"Send Contact Message":          {"/: missing property 'recipient_type'"},
	"Send Reply to Contact Message": {"/: missing property 'recipient_type'"},
	"Send Test Message":             {"/: missing property 'recipient_type'", "/template/language: missing property 'policy'"},
	// No "type" (BaseMessageProperties requires it), so no oneOf branch
	// matches.
	"Send Text Message with Preview URL": {"missing properties 'recipient_type', 'type'"},
	"Send Reply to List Message":         {"/: missing properties 'type', 'text'"},
	// LanguageObject requires policy ("deterministic"); our adapter sends it.
	"Send Message Template Media":                {"/template/language: missing property 'policy'"},
	"Send Message Template Text":                 {"/template/language: missing property 'policy'"},
	"Send Sample Shipping Confirmation Template": {"/template/language: missing property 'policy'"},
	"Send Sample Text Message":                   {"/template/language: missing property 'policy'"},
	// TemplateComponent.index has pattern ^[2-6, 11-14]$ (a character
	// class), which rejects "0" although the schema's own example is "0"
	// and its description says 0-9: a schema bug the fake patches.
	"Send Message Template Interactive": {"/template/components/2/index: '0' does not match pattern"},
	// Button parameters of type "action" and sub_types flow/CATALOG are
	// not in the schema's enums; indexes are numbers, not strings.
	"Send Flow Template Message":    {"/template/components/0/parameters/0/type: value must be one of 'payload', 'text'"},
	"Send Catalog Template Message": {"/template/components/1/index: got number, want string", "/template/components/1/sub_type: value must be one of"},
	// The YAML writes the quick-reply texts as bare true/false: booleans.
	"Send Sample Issue Resolution Template": {"/template/components/1/parameters/0/text: got boolean, want string"},
	// LocationObject declares latitude/longitude as strings; the examples
	// send numbers. Our adapter sends strings, as the schema says.
	"Send Location Message":          {"/location/latitude: got number, want string"},
	"Send Reply to Location Message": {"/location/longitude: got number, want string"},
	// The header type is a placeholder, "<HEADER_TYPE>".
	"Send Multi-Product Message": {"/interactive/header/type: value must be one of"},
	// order_details / order_status (payments in India) are not in the
	// InteractiveObject type enum.
	"Send Order Details Message": {"/interactive/type: value must be one of"},
	"Send Order Status Message":  {"/interactive/type: value must be one of"},
	// Mark-as-read is not a Message at all; it is MarkMessageRequestPayload
	// (see TestOASMarkReadSchema).
	"Send typing indicator and read receipt": {"additional properties", "missing properties 'recipient_type', 'to', 'type'"},
}

func TestOASMetaSendExamples(t *testing.T) {
	ex := readExamples(t, "send-message.json")
	v := validator(t, meta(t), ex.Method, ex.Path, "application/json")
	if len(ex.Request) < 50 {
		t.Fatalf("only %d request examples", len(ex.Request))
	}
	valid := 0
	for _, name := range sortedKeys(ex.Request) {
		t.Run(name, func(t *testing.T) {
			err := v.Validate(ex.Request[name].Value)
			want, invalid := invalidSendExamples[name]
			switch {
			case !invalid && err != nil:
				t.Fatalf("official example rejected: %v", err)
			case invalid && err == nil:
				t.Fatalf("listed as invalid (%q) but validates: drop it from invalidSendExamples", want)
			case invalid:
				for _, w := range want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
			default:
				valid++
			}
		})
	}
	for name := range invalidSendExamples {
		if _, ok := ex.Request[name]; !ok {
			t.Errorf("invalidSendExamples names %q, which is not an example", name)
		}
	}
	t.Logf("%d of %d official send examples validate", valid, len(ex.Request))
}

// TestOASMarkReadSchema: the read receipt body is described by the
// component MarkMessageRequestPayload, which no operation references; the
// official "typing indicator and read receipt" example matches it.
func TestOASMarkReadSchema(t *testing.T) {
	ex := readExamples(t, "send-message.json")
	v, err := meta(t).SchemaValidator(markReadPtr)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(ex.Request["Send typing indicator and read receipt"].Value); err != nil {
		t.Fatalf("official read receipt: %v", err)
	}
	if err := v.Validate([]byte(`{"messaging_product":"whatsapp","status":"read","message_id":"wamid.X"}`)); err != nil {
		t.Fatalf("minimal read receipt: %v", err)
	}
	err = v.Validate([]byte(`{"messaging_product":"whatsapp","status":"read"}`))
	wantProblem(t, err, "/", "missing property 'message_id'")
}

func wantProblem(t *testing.T, err error, path, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("validated; want %s: %s", path, msg)
	}
	ve, ok := err.(*oas.ValidationError)
	if !ok {
		t.Fatalf("error %T %v is not a *oas.ValidationError", err, err)
	}
	for _, p := range ve.Problems {
		if p.Path == path && strings.Contains(p.Message, msg) {
			return
		}
	}
	t.Fatalf("no problem at %s containing %q in:\n%v", path, msg, err)
}

func TestOASInvalidSendBodies(t *testing.T) {
	v := validator(t, meta(t), "POST", messagesPath, "application/json")
	const base = `"messaging_product":"whatsapp","recipient_type":"individual","to":"15551234567"`
	buttons := func(n int) string {
		var bs []string
		for i := range n {
			bs = append(bs, `{"type":"reply","reply":{"id":"b`+string(rune('0'+i))+`","title":"B"}}`)
		}
		return `{` + base + `,"type":"interactive","interactive":{"type":"button","body":{"text":"Pick"},"action":{"buttons":[` + strings.Join(bs, ",") + `]}}}`
	}
	rows := func(n int) string {
		var rs []string
		for i := range n {
			rs = append(rs, `{"id":"r`+string(rune('a'+i))+`","title":"Row"}`)
		}
		return `{` + base + `,"type":"interactive","interactive":{"type":"list","body":{"text":"Pick"},"action":{"button":"Menu","sections":[{"title":"S","rows":[` + strings.Join(rs, ",") + `]}]}}}`
	}
	for _, tc := range []struct {
		name, body, path, msg string
	}{
		{"unknown property", `{` + base + `,"type":"text","text":{"body":"hi"},"colour":"red"}`, "/", "additional properties 'colour' not allowed"},
		{"unknown text property", `{` + base + `,"type":"text","text":{"body":"hi","bold":true}}`, "/text", "additional properties 'bold' not allowed"},
		{"missing to", `{"messaging_product":"whatsapp","recipient_type":"individual","type":"text","text":{"body":"hi"}}`, "/", "missing property 'to'"},
		{"to as number", `{"messaging_product":"whatsapp","recipient_type":"individual","to":15551234567,"type":"text","text":{"body":"hi"}}`, "/to", "got number, want string"},
		{"text body as number", `{` + base + `,"type":"text","text":{"body":42}}`, "/text/body", "got number, want string"},
		{"bad recipient_type", `{"messaging_product":"whatsapp","recipient_type":"person","to":"1","type":"text","text":{"body":"hi"}}`, "/recipient_type", "value must be one of"},
		{"four reply buttons", buttons(4), "/interactive/action/buttons", "maxItems: got 4, want 3"},
		{"eleven list rows", rows(11), "/interactive/action/sections/0/rows", "maxItems: got 11, want 10"},
		{"long button title", `{` + base + `,"type":"interactive","interactive":{"type":"button","body":{"text":"x"},"action":{"buttons":[{"type":"reply","reply":{"id":"a","title":"a title far longer than twenty"}}]}}}`, "/interactive/action/buttons/0/reply/title", "maxLength"},
		{"media with id and link", `{` + base + `,"type":"image","image":{"id":"1","link":"https://x"}}`, "/image", "oneOf"},
		{"template parameter without text", `{` + base + `,"type":"template","template":{"name":"t","language":{"code":"en","policy":"deterministic"},"components":[{"type":"body","parameters":[{"type":"text"}]}]}}`, "/template/components/0/parameters/0", "missing property 'text'"},
		{"reaction with unknown field", `{` + base + `,"type":"reaction","reaction":{"message_id":"wamid.X","emoji":"👍","skin":"dark"}}`, "/reaction", "additional properties 'skin' not allowed"},
		{"not JSON", `{"to":`, "/", "not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, v.Validate([]byte(tc.body)), tc.path, tc.msg)
		})
	}
}

// TestOASSchemaBugs shows the two places where Meta's schema rejects
// what the API documents, and that Patch fixes them for the fake.
func TestOASSchemaBugs(t *testing.T) {
	const msg = `{"messaging_product":"whatsapp","recipient_type":"individual","to":"1","type":"template",
	"biz_opaque_callback_data":"msg_1",
	"template":{"name":"t","language":{"code":"en","policy":"deterministic"},
	"components":[{"type":"button","sub_type":"quick_reply","index":"0","parameters":[{"type":"payload","payload":"P"}]}]}}`
	text := `{"messaging_product":"whatsapp","recipient_type":"individual","to":"1","type":"text","text":{"body":"hi"},"biz_opaque_callback_data":"msg_1"}`

	v := validator(t, meta(t), "POST", messagesPath, "application/json")
	wantProblem(t, v.Validate([]byte(msg)), "/template/components/0/index", "does not match pattern")
	wantProblem(t, v.Validate([]byte(text)), "/", "additional properties 'biz_opaque_callback_data' not allowed")

	d, err := oas.Load(specs.Path("meta", "business-messaging-api_v23.0.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]any{"type": "string", "pattern": "^[0-9]$"}
	for _, p := range []string{
		"/components/schemas/TemplateComponent/properties/index",
		"/components/schemas/ButtonComponent/allOf/1/properties/index",
	} {
		if err := d.Patch(p, index); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Patch("/components/schemas/BaseMessageProperties/properties/biz_opaque_callback_data", map[string]any{"type": "string", "maxLength": 512}); err != nil {
		t.Fatal(err)
	}
	pv := validator(t, d, "POST", messagesPath, "application/json")
	for _, body := range []string{msg, text} {
		if err := pv.Validate([]byte(body)); err != nil {
			t.Errorf("patched schema: %v", err)
		}
	}
	wantProblem(t, pv.Validate([]byte(strings.Replace(msg, `"index":"0"`, `"index":"10"`, 1))), "/template/components/0/index", "does not match pattern")
	if err := d.Patch("/components/schemas/NoSuchSchema/properties/x", true); err == nil {
		t.Error("patching a missing parent succeeded")
	}
}

func TestOASMediaUpload(t *testing.T) {
	ex := readExamples(t, "media-upload.json")
	d := meta(t)
	jv := validator(t, d, ex.Method, ex.Path, "application/json")
	for name, e := range ex.Request {
		if err := jv.Validate(e.Value); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	mv := validator(t, d, ex.Method, ex.Path, "multipart/form-data; boundary=x")
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	w.WriteField("messaging_product", "whatsapp")
	w.WriteField("type", "image/jpeg")
	fw, _ := w.CreateFormFile("file", "cat.jpg")
	fw.Write([]byte{0xff, 0xd8, 0xff})
	w.Close()
	form, err := multipart.NewReader(&buf, w.Boundary()).ReadForm(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if err := mv.ValidateMultipart(form); err != nil {
		t.Fatalf("upload form: %v", err)
	}
	// The multipart schema declares file and messaging_product as strings
	// but requires nothing, so only a repeated field can be wrong.
	wantProblem(t, mv.ValidateForm(url.Values{"messaging_product": {"whatsapp", "whatsapp"}}), "/messaging_product", "given 2 times")
}

func TestOASResponseExamples(t *testing.T) {
	d := meta(t)
	for _, file := range []string{"send-message.json", "message-templates-get.json", "media-retrieve-url.json", "media-upload.json", "template-by-id-get.json"} {
		ex := readExamples(t, file)
		for status, byName := range ex.Response {
			for _, name := range sortedKeys(byName) {
				e := byName[name]
				v, err := d.ResponseValidator(ex.Method, ex.Path, status, e.ContentType)
				if err != nil {
					t.Fatalf("%s %s: %v", file, name, err)
				}
				if err := v.Validate(e.Value); err != nil {
					t.Errorf("%s %s: %v", file, name, err)
				}
			}
		}
	}
	v, err := d.SchemaValidator("/components/schemas/GraphAPIError")
	if err != nil {
		t.Fatal(err)
	}
	var errs struct {
		Responses map[string]struct{ Examples map[string]example } `json:"responses"`
	}
	json.Unmarshal(specs.Read(t, "meta", "openapi-examples", "graph-error-responses.json"), &errs)
	n := 0
	for _, r := range errs.Responses {
		for name, e := range r.Examples {
			if bytes.Contains(e.Value, []byte(`"error"`)) {
				n++
				if err := v.Validate(e.Value); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		}
	}
	if n < 5 {
		t.Errorf("only %d error examples", n)
	}
	wantProblem(t, v.Validate([]byte(`{"error":{"message":"x","type":"OAuthException","code":"190"}}`)), "/error/code", "got string, want integer")
}

// The synthetic documents below pin the normalization rules on small
// schemas, for each dialect.

const allOfDoc = `
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /pets:
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Pet'}
components:
  schemas:
    Base:
      type: object
      required: [name]
      properties:
        name: {type: string}
        kind: {type: string, enum: [cat, dog, bird]}
    Pet:
      discriminator: {propertyName: kind, mapping: {cat: '#/components/schemas/Cat', dog: '#/components/schemas/Dog'}}
      oneOf:
      - $ref: '#/components/schemas/Cat'
      - $ref: '#/components/schemas/Dog'
    Cat:
      allOf:
      - $ref: '#/components/schemas/Base'
      - type: object
        additionalProperties: false
        properties:
          kind: {enum: [cat]}
          lives: {type: integer, maximum: 9}
          example: {type: string}
        example: {name: Tom, kind: cat}
    Dog:
      allOf:
      - $ref: '#/components/schemas/Base'
      - type: object
        additionalProperties: false
        required: [good]
        properties:
          kind: {enum: [dog]}
          good: {type: boolean}
`

func TestOASAllOfMerge(t *testing.T) {
	d, err := oas.Parse([]byte(allOfDoc))
	if err != nil {
		t.Fatal(err)
	}
	v := validator(t, d, "POST", "/pets", "application/json")
	for _, ok := range []string{
		`{"name":"Tom","kind":"cat","lives":9}`,
		`{"name":"Tom","kind":"cat","example":"a property named example is kept"}`,
		`{"name":"Rex","kind":"dog","good":true}`,
	} {
		if err := v.Validate([]byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	// The discriminator picks Dog, so the error is about Dog alone.
	err = v.Validate([]byte(`{"name":"Rex","kind":"dog","lives":3}`))
	wantProblem(t, err, "/", "missing property 'good'")
	wantProblem(t, err, "/", "additional properties 'lives' not allowed")
	if n := len(err.(*oas.ValidationError).Problems); n != 2 {
		t.Errorf("%d problems, want 2 (Dog's only): %v", n, err)
	}
	wantProblem(t, v.Validate([]byte(`{"kind":"cat"}`)), "/", "missing property 'name'")
	wantProblem(t, v.Validate([]byte(`{"name":"Tom","kind":"cat","lives":10}`)), "/lives", "maximum")
	// Merging keeps both enums: "bird" is allowed by Base but not by Cat.
	v2, err := d.SchemaValidator("/components/schemas/Cat")
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, v2.Validate([]byte(`{"name":"Tweety","kind":"bird"}`)), "/kind", "value must be 'cat'")
}

const legacyDoc = `
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /things:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [To]
              properties:
                To: {type: string}
                Count: {type: integer, minimum: 0, exclusiveMinimum: true}
                Urgent: {type: boolean}
                MediaUrl: {type: array, items: {type: string, format: uri}}
          application/json:
            schema:
              type: object
              properties:
                note: {type: string, nullable: true}
                color: {type: string, enum: [red], nullable: true}
                ref: {$ref: '#/components/schemas/Id', description: ignored in 3.0}
components:
  schemas:
    Id: {type: string, pattern: '^(?!x)[a-z]+$'}
`

func TestOASLegacyDialect(t *testing.T) {
	d, err := oas.Parse([]byte(legacyDoc))
	if err != nil {
		t.Fatal(err)
	}
	jv := validator(t, d, "POST", "/things", "application/json")
	if err := jv.Validate([]byte(`{"note":null,"color":null,"ref":"xyz"}`)); err != nil {
		t.Errorf("nullable, and a look-ahead Go cannot compile (not enforced): %v", err)
	}
	wantProblem(t, jv.Validate([]byte(`{"color":"blue"}`)), "/color", "value must be one of")
	fv := validator(t, d, "POST", "/things", "application/x-www-form-urlencoded")
	if err := fv.ValidateForm(url.Values{"To": {"+1"}, "Count": {"2"}, "Urgent": {"true"}, "MediaUrl": {"https://a", "https://b"}}); err != nil {
		t.Errorf("form: %v", err)
	}
	wantProblem(t, fv.ValidateForm(url.Values{"To": {"+1"}, "Count": {"0"}}), "/Count", "exclusiveMinimum")
	wantProblem(t, fv.ValidateForm(url.Values{"To": {"+1"}, "Count": {"many"}}), "/Count", "got string, want integer")
	wantProblem(t, fv.ValidateForm(url.Values{"Count": {"1"}}), "/", "missing property 'To'")
}

const swaggerDoc = `
swagger: "2.0"
info: {title: t, version: "1"}
paths:
  /messages:
    post:
      consumes: [application/json]
      parameters:
      - {name: body, in: body, required: true, schema: {$ref: '#/definitions/Send'}}
  /upload:
    post:
      consumes: [multipart/form-data]
      parameters:
      - {name: file, in: formData, type: file, required: true}
      - {name: kind, in: formData, type: string, enum: [image, video]}
definitions:
  Base:
    type: object
    required: [to]
    properties:
      to: {type: string}
  Send:
    allOf:
    - $ref: '#/definitions/Base'
    - type: object
      additionalProperties: false
      properties:
        text: {type: string, x-ms-client-name: Text}
`

func TestOASSwagger2(t *testing.T) {
	d, err := oas.Parse([]byte(swaggerDoc))
	if err != nil {
		t.Fatal(err)
	}
	v := validator(t, d, "POST", "/messages", "application/json")
	if err := v.Validate([]byte(`{"to":"1","text":"hi"}`)); err != nil {
		t.Error(err)
	}
	wantProblem(t, v.Validate([]byte(`{"to":"1","txt":"hi"}`)), "/", "additional properties 'txt' not allowed")
	fv := validator(t, d, "POST", "/upload", "multipart/form-data")
	if err := fv.ValidateForm(url.Values{"file": {"a.png"}, "kind": {"image"}}); err != nil {
		t.Error(err)
	}
	wantProblem(t, fv.ValidateForm(url.Values{"kind": {"audio"}}), "/", "missing property 'file'")
}

func TestOASLookupErrors(t *testing.T) {
	d := meta(t)
	for _, tc := range []struct{ method, path, ct string }{
		{"POST", "/{Version}/nope", "application/json"},
		{"DELETE", messagesPath, "application/json"},
		{"POST", messagesPath, "text/csv"},
	} {
		if _, err := d.RequestValidator(tc.method, tc.path, tc.ct); err == nil {
			t.Errorf("%s %s %s: no error", tc.method, tc.path, tc.ct)
		}
	}
	if _, err := oas.Parse([]byte(`{"hello":"world"}`)); err == nil {
		t.Error("a non-OpenAPI document parsed")
	}
}
