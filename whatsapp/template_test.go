package whatsapp

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
)

func TestApplyComponents(t *testing.T) {
	var comps []Component
	comps = append(comps, Component{Type: "HEADER", Format: "TEXT", Text: "Pedido {{order}}"},
		Component{Type: "body", Text: "Olá {{first_name}}, chega {{date}}."}, Component{Type: "FOOTER", Text: "Loja"})
	b := Component{Type: "BUTTONS"}
	b.Buttons = append(b.Buttons, struct {
		Type string `json:"type"`
		Text string `json:"text"`
		URL  string `json:"url"`
	}{Type: "URL", Text: "Ver", URL: "https://x.example/{{1}}"})
	comps = append(comps, b)
	var tp parley.Template
	ApplyComponents(&tp, comps)
	if tp.Header == nil || tp.Header.Format != "text" || len(tp.Header.Params) != 1 || tp.Body != "Olá {{first_name}}, chega {{date}}." ||
		len(tp.BodyParams) != 2 || tp.Footer != "Loja" || len(tp.Buttons) != 1 || !tp.Buttons[0].HasParam || tp.ParameterFormat != "named" {
		t.Errorf("applied %+v", tp)
	}
	tp = parley.Template{}
	ApplyComponents(&tp, []Component{{Type: "BODY", Text: "Hi {{1}}"}})
	if tp.ParameterFormat != "positional" || tp.Header != nil {
		t.Errorf("a positional body gave %+v", tp)
	}
}

func TestLimitBody(t *testing.T) {
	tooLarge := errors.New("too large")
	b, err := io.ReadAll(LimitBody(io.NopCloser(strings.NewReader("12345")), 5, tooLarge))
	if err != nil || string(b) != "12345" {
		t.Errorf("at the limit: %q, %v", b, err)
	}
	if _, err := io.ReadAll(LimitBody(io.NopCloser(strings.NewReader("123456")), 5, tooLarge)); !errors.Is(err, tooLarge) {
		t.Errorf("past the limit: %v, want the too-large error", err)
	}
}
