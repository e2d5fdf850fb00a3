package webhook

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/crm"
	"github.com/parleyhq/parley/jobs"
	"github.com/parleyhq/parley/store"
)

// JobImport reads a connector's records from its import endpoint, page
// after page. One runs at a time per connector (its unique key).
const JobImport = "crm.import"

// importAttempts is how many times a failing page is tried (with the
// queue's backoff) before the import is marked failed; starting it again
// then resumes from that page.
const importAttempts = 5

// maxPage is the largest page read.
const maxPage = 32 << 20

type importArgs struct {
	ConnectorID string `json:"connector_id"`
}

// Register adds the import's worker to the queue.
func (s *Service) Register() {
	s.Jobs.Handle(JobImport, s.workImport, jobs.HandlerOptions{Timeout: 5 * time.Minute})
}

// StartImport starts a connector's initial import, or resumes a failed
// one from the page it failed on. An import already running is left to
// run. A finished one starts again from the first page.
func (s *Service) StartImport(ctx context.Context, tenantID, connectorID string) (*store.ImportState, error) {
	c, err := s.DB.FindConnector(ctx, tenantID, connectorID)
	if err != nil {
		return nil, err
	}
	if c.Webhook == nil || c.Webhook.Import == nil {
		return nil, parley.Errorf(parley.EINVALID, "The connector has no import endpoint: set webhook.import.url first.")
	}
	st, err := s.DB.ImportState(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	switch {
	case st == nil || st.Status == store.ImportDone:
		st = &store.ImportState{Status: store.ImportRunning}
	case st.Status == store.ImportFailed:
		st.Status, st.Error, st.FinishedAt = store.ImportRunning, "", time.Time{}
	}
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.SaveImportState(ctx, c.ID, st); err != nil {
			return err
		}
		return s.Jobs.Insert(ctx, tx, jobs.InsertParams{Kind: JobImport, Queue: crm.Queue, TenantID: c.TenantID,
			Args: importArgs{ConnectorID: c.ID}, UniqueKey: JobImport + ":" + c.ID, MaxAttempts: importAttempts})
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// workImport reads pages from where the import stopped until the last.
// Each page's records and the position after it commit together, so an
// import cut off anywhere resumes at the first page not stored.
func (s *Service) workImport(ctx context.Context, job *jobs.Job) error {
	var a importArgs
	if err := job.DecodeArgs(&a); err != nil {
		return jobs.Cancel(err)
	}
	c, err := s.DB.FindConnectorByID(ctx, a.ConnectorID)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	st, err := s.DB.ImportState(ctx, c.ID)
	if err != nil {
		return err
	}
	if st == nil || st.Status != store.ImportRunning || c.Webhook == nil || c.Webhook.Import == nil {
		return nil
	}
	im := c.Webhook.Import
	for {
		page, err := s.fetchPage(ctx, im, st.Cursor)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			st.Error = err.Error()
			if job.Attempt >= job.MaxAttempts {
				st.Status, st.FinishedAt = store.ImportFailed, s.now()
			}
			if serr := s.DB.SaveImportState(context.WithoutCancel(ctx), c.ID, st); serr != nil {
				return serr
			}
			return err
		}
		var bad []string
		recs := make([]Record, 0, len(page.items))
		for i, raw := range page.items {
			var e Event
			err := json.Unmarshal(raw, &e)
			var r Record
			if err == nil {
				r, err = e.Record(true)
			}
			if err != nil {
				bad = append(bad, fmt.Sprintf("page %d item %d: %s", st.Pages+1, i+1, parley.ErrorMessage(err)))
				continue
			}
			recs = append(recs, r)
		}
		next := *st
		next.Cursor, next.Records, next.Pages, next.Error = page.next, st.Records+int64(len(recs)), st.Pages+1, ""
		if len(bad) > 0 {
			next.Error = fmt.Sprintf("%d records skipped; the first: %s", len(bad), bad[0])
			s.Log.Warn("crm import: records skipped", "connector", c.ID, "count", len(bad), "first", bad[0])
		}
		if page.next == "" {
			next.Status, next.FinishedAt = store.ImportDone, s.now()
		}
		err = s.DB.InTx(ctx, func(tx *store.Tx) error {
			if err := s.apply(ctx, tx, c, recs, false); err != nil {
				return err
			}
			return tx.SaveImportState(ctx, c.ID, &next)
		})
		if err != nil {
			return err
		}
		st = &next
		if st.Status == store.ImportDone {
			s.Log.Info("crm import done", "connector", c.ID, "records", st.Records, "pages", st.Pages)
			return nil
		}
		if err := job.Heartbeat(ctx); err != nil {
			return err
		}
	}
}

type page struct {
	items []json.RawMessage
	next  string // the next page's address or cursor; "" after the last
}

// fetchPage reads the page at cursor: the first page for "", else the
// address a next link gave, or the first page's address with the cursor
// parameter set.
func (s *Service) fetchPage(ctx context.Context, im *parley.WebhookImport, cursor string) (page, error) {
	u := im.URL
	switch {
	case cursor != "" && im.CursorParam != "":
		pu, err := url.Parse(im.URL)
		if err != nil {
			return page{}, err
		}
		q := pu.Query()
		q.Set(im.CursorParam, cursor)
		pu.RawQuery = q.Encode()
		u = pu.String()
	case cursor != "":
		u = cursor
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return page{}, fmt.Errorf("import page %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Parley")
	// The headers carry the CRM's credentials: they go only to the
	// import endpoint's own host, whatever a next link says.
	if base, err := url.Parse(im.URL); err == nil && base.Host == req.URL.Host {
		for k, v := range im.Headers {
			req.Header.Set(k, v)
		}
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return page{}, fmt.Errorf("import page %s: %w", req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPage+1))
	if err != nil {
		return page{}, fmt.Errorf("import page %s: %w", req.URL.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		return page{}, fmt.Errorf("import page %s: the CRM answered %d: %s", req.URL.Redacted(), resp.StatusCode, snippet(b))
	}
	if len(b) > maxPage {
		return page{}, fmt.Errorf("import page %s: larger than %d MB", req.URL.Redacted(), maxPage>>20)
	}
	var doc any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		return page{}, fmt.Errorf("import page %s: not JSON: %w", req.URL.Redacted(), err)
	}
	var p page
	items := doc
	if im.ItemsPath != "" {
		items = lookup(doc, im.ItemsPath)
	}
	list, ok := items.([]any)
	if !ok && items != nil {
		return page{}, fmt.Errorf("import page %s: %q is not a list", req.URL.Redacted(), im.ItemsPath)
	}
	for _, it := range list {
		raw, _ := json.Marshal(it)
		p.items = append(p.items, raw)
	}
	switch {
	case im.NextPath != "":
		if next, _ := lookup(doc, im.NextPath).(string); next != "" {
			ref, err := url.Parse(next)
			if err != nil {
				return page{}, fmt.Errorf("import page %s: the next link %q: %w", req.URL.Redacted(), next, err)
			}
			p.next = req.URL.ResolveReference(ref).String()
		}
	case im.CursorPath != "":
		switch c := lookup(doc, im.CursorPath).(type) {
		case string:
			p.next = c
		case json.Number:
			p.next = c.String()
		}
	}
	if p.next == cursor && cursor != "" || len(list) == 0 {
		p.next = "" // a page pointing at itself, or an empty one, is the last
	}
	return p, nil
}

// lookup follows a dotted path (paging.next.link) through JSON objects.
func lookup(doc any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		doc = m[k]
	}
	return doc
}

// LineError is a record of a file that could not be imported.
type LineError struct {
	Line int // the CSV line, or the JSON item's position, from 1
	Err  error
}

// Error is the line and what is wrong with it: the file is the user's own,
// so its parse errors are shown whole.
func (e LineError) Error() string {
	var pe *parley.Error
	if errors.As(e.Err, &pe) {
		return fmt.Sprintf("line %d: %s", e.Line, pe.Message)
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

// ParseFile reads records from a CSV or JSON file, by its name's
// extension. A CSV file has a header row naming at least entity,
// source_crm_id; name, phones (separated by ;), source_crm_url and
// source_crm are read as such, and any other column is a field. A JSON
// file is a list of records shaped like inbound events, or an object
// holding one under events, records, data or results. Bad records are
// returned apart, with their line; the good ones are still read.
func ParseFile(name string, r io.Reader) ([]Record, []LineError, error) {
	switch strings.ToLower(name[strings.LastIndexByte(name, '.')+1:]) {
	case "csv":
		return parseCSV(r)
	case "json":
		return parseJSON(r)
	}
	return nil, nil, parley.Errorf(parley.EINVALID, "%s is neither a .csv nor a .json file.", name)
}

func parseCSV(r io.Reader) ([]Record, []LineError, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return nil, nil, parley.Errorf(parley.EINVALID, "The CSV file has no header row: %v", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, need := range []string{"entity", "source_crm_id"} {
		if _, ok := col[need]; !ok {
			return nil, nil, parley.Errorf(parley.EINVALID, "The CSV header must name the columns entity and source_crm_id (it has %s).",
				strings.Join(header, ","))
		}
	}
	var recs []Record
	var bad []LineError
	for {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad = append(bad, LineError{Line: pe.Line, Err: pe.Err})
				continue
			}
			return recs, bad, err
		}
		if len(fields) != len(header) {
			bad = append(bad, LineError{Line: line, Err: fmt.Errorf("%d columns, the header has %d", len(fields), len(header))})
			continue
		}
		e := Event{Fields: map[string]json.RawMessage{}}
		for name, i := range col {
			v := strings.TrimSpace(fields[i])
			switch name {
			case "entity":
				e.Entity = v
			case "source_crm_id", "id":
				if e.SourceCRMID == "" {
					e.SourceCRMID = v
				}
			case "source_crm_url", "url":
				e.SourceCRMURL = v
			case "source_crm":
				e.SourceCRM = v
			case "type":
			default:
				if v != "" {
					e.Fields[name], _ = json.Marshal(v)
				}
			}
		}
		rec, err := e.Record(true)
		if err != nil {
			bad = append(bad, LineError{Line: line, Err: err})
			continue
		}
		recs = append(recs, rec)
	}
	return recs, bad, nil
}

func parseJSON(r io.Reader) ([]Record, []LineError, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		var obj map[string]json.RawMessage
		if json.Unmarshal(b, &obj) != nil {
			return nil, nil, parley.Errorf(parley.EINVALID, "The JSON file is neither a list of records nor an object holding one: %v", err)
		}
		for _, k := range []string{"events", "records", "data", "results"} {
			if json.Unmarshal(obj[k], &items) == nil && items != nil {
				break
			}
		}
	}
	var recs []Record
	var bad []LineError
	for i, raw := range items {
		var e Event
		err := json.Unmarshal(raw, &e)
		var rec Record
		if err == nil {
			rec, err = e.Record(true)
		}
		if err != nil {
			bad = append(bad, LineError{Line: i + 1, Err: err})
			continue
		}
		if rec.Deleted {
			bad = append(bad, LineError{Line: i + 1, Err: errors.New("an import cannot delete records")})
			continue
		}
		recs = append(recs, rec)
	}
	return recs, bad, nil
}
