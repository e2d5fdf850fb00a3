package parley

import "testing"

func orderTemplate() *Template {
	t := &Template{
		Name: "order_update", Language: "pt_BR", Status: TemplateApproved, ParameterFormat: "positional",
		Header:  &TemplateHeader{Format: "image"},
		Body:    "Olá {{1}}, seu pedido {{2}} saiu para entrega.",
		Buttons: []TemplateButton{{Type: "quick_reply", Text: "Ok"}, {Type: "url", Text: "Rastrear", URL: "https://x.test/{{1}}", HasParam: true}},
	}
	t.BodyParams = Placeholders(t.Body)
	t.CountParameters()
	return t
}

func TestTemplateCheck(t *testing.T) {
	tpl := orderTemplate()
	if tpl.ParameterCount != 4 {
		t.Fatalf("ParameterCount = %d, want 4 (image header, two body, one URL)", tpl.ParameterCount)
	}
	good := TemplateMessage{
		Parameters: []string{"Ana", "#42"},
		Header:     &TemplateHeaderParam{Type: "image", Link: "https://x.test/a.jpg"},
		Buttons:    []TemplateButtonParam{{Index: 1, SubType: "url", Text: "42"}},
	}
	if err := tpl.Check(&good); err != nil {
		t.Fatalf("Check(good) = %v", err)
	}
	for name, mutate := range map[string]func(m *TemplateMessage){
		"missing body param": func(m *TemplateMessage) { m.Parameters = m.Parameters[:1] },
		"extra body param":   func(m *TemplateMessage) { m.Parameters = append(m.Parameters, "x") },
		"empty body param":   func(m *TemplateMessage) { m.Parameters = []string{"Ana", " "} },
		"named on positional": func(m *TemplateMessage) {
			m.NamedParameters = map[string]string{"1": "x"}
		},
		"missing header":     func(m *TemplateMessage) { m.Header = nil },
		"wrong header type":  func(m *TemplateMessage) { m.Header = &TemplateHeaderParam{Type: "video", Link: "https://x"} },
		"header without src": func(m *TemplateMessage) { m.Header = &TemplateHeaderParam{Type: "image"} },
		"missing url param":  func(m *TemplateMessage) { m.Buttons = nil },
		"no such button":     func(m *TemplateMessage) { m.Buttons = append(m.Buttons, TemplateButtonParam{Index: 5, SubType: "url"}) },
		"wrong button type": func(m *TemplateMessage) {
			m.Buttons = []TemplateButtonParam{{Index: 1, SubType: "quick_reply", Text: "x"}}
		},
	} {
		m := good
		m.Parameters = append([]string(nil), good.Parameters...)
		mutate(&m)
		err := tpl.Check(&m)
		if ErrorCode(err) != EINVALID {
			t.Errorf("%s: Check = %v, want code invalid", name, err)
		}
	}
	for _, status := range []string{TemplatePaused, TemplateDisabled, TemplatePending, TemplateRejected} {
		tpl.Status = status
		if err := tpl.Check(&good); ErrorCode(err) != ETEMPLATENOTAPPROVED {
			t.Errorf("status %s: Check = %v, want template_not_approved", status, err)
		}
	}
}

func TestTemplateNamed(t *testing.T) {
	tpl := &Template{Name: "welcome", Status: TemplateApproved, ParameterFormat: "named", Body: "Hi {{first_name}}, your code is {{ code }}."}
	tpl.BodyParams = Placeholders(tpl.Body)
	if len(tpl.BodyParams) != 2 || tpl.BodyParams[1] != "code" {
		t.Fatalf("BodyParams = %q", tpl.BodyParams)
	}
	m := &TemplateMessage{NamedParameters: map[string]string{"first_name": "Ana", "code": "123"}}
	if err := tpl.Check(m); err != nil {
		t.Fatal(err)
	}
	if got, want := tpl.Render(m), "Hi Ana, your code is 123."; got != want {
		t.Fatalf("Render = %q, want %q", got, want)
	}
	m.NamedParameters["other"] = "x"
	if err := tpl.Check(m); ErrorCode(err) != EINVALID {
		t.Fatalf("unknown named parameter: Check = %v", err)
	}
	delete(m.NamedParameters, "other")
	delete(m.NamedParameters, "code")
	if err := tpl.Check(m); ErrorCode(err) != EINVALID {
		t.Fatalf("missing named parameter: Check = %v", err)
	}
}

func TestTemplateRender(t *testing.T) {
	tpl := orderTemplate()
	got := tpl.Render(&TemplateMessage{Parameters: []string{"Ana", "#42"}})
	if want := "Olá Ana, seu pedido #42 saiu para entrega."; got != want {
		t.Fatalf("Render = %q, want %q", got, want)
	}
}
