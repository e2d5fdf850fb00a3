package dataverse

import (
	"regexp"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
)

// TestBatchBodyLayout pins the change set to the layout of
// testdata/specs/dataverse/batch-changeset.request.http, line by line.
func TestBatchBodyLayout(t *testing.T) {
	c, err := New(&parley.DataverseConfig{EnvironmentURL: "https://contoso.crm4.dynamics.com",
		EntraTenantID: "contoso.onmicrosoft.com", ClientID: "535fb089-9ff3-47b6-9bfb-4f1264799865", ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	body, contentType, err := c.batchBody([]Op{
		{Method: "PATCH", Path: "parley_whatsappmessages(parley_messageid='a b')", Body: map[string]any{"subject": "Hi & bye"}},
		{Method: "DELETE", Path: "tasks(AAAAAAAA-0000-0000-0000-000000000001)"},
	})
	if err != nil {
		t.Fatal(err)
	}
	uuid := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	batch := uuid.FindString(contentType)
	got := strings.NewReplacer(batch, "B", "\r\n", "<CRLF>\n").Replace(uuid.ReplaceAllStringFunc(string(body), func(s string) string {
		if s == batch {
			return s
		}
		return "C"
	}))
	want := `--batch_B<CRLF>
Content-Type: multipart/mixed; boundary="changeset_C"<CRLF>
<CRLF>
--changeset_C<CRLF>
Content-Type: application/http<CRLF>
Content-Transfer-Encoding: binary<CRLF>
Content-ID: 1<CRLF>
<CRLF>
PATCH /api/data/v9.2/parley_whatsappmessages(parley_messageid='a%20b') HTTP/1.1<CRLF>
Content-Type: application/json; type=entry<CRLF>
<CRLF>
{"subject":"Hi & bye"}<CRLF>
--changeset_C<CRLF>
Content-Type: application/http<CRLF>
Content-Transfer-Encoding: binary<CRLF>
Content-ID: 2<CRLF>
<CRLF>
DELETE /api/data/v9.2/tasks(AAAAAAAA-0000-0000-0000-000000000001) HTTP/1.1<CRLF>
<CRLF>
<CRLF>
--changeset_C--<CRLF>
<CRLF>
--batch_B--<CRLF>
`
	if got != want {
		t.Errorf("batch body:\n%s\nwant:\n%s", got, want)
	}
	if contentType != `multipart/mixed; boundary="batch_`+batch+`"` {
		t.Errorf("Content-Type %q", contentType)
	}
	if strings.Contains(strings.ReplaceAll(string(body), "\r\n", ""), "\n") {
		t.Errorf("a line ends in LF alone")
	}
}
