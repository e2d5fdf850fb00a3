// Package crm is the CRM port: it connects a tenant to its CRM, finds the
// records of a customer's phone, logs every message on them, and hears of
// the CRM's changes. The CRMs themselves are adapters in subpackages
// (dataverse); this package holds what does not depend on which one.
package crm

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
)

// Client is one connector's CRM, as the service needs it. Each adapter
// implements it; the service opens one per connector through Open.
type Client interface {
	// Check proves the credentials work, by asking the CRM who Parley is.
	Check(ctx context.Context) error
}

// Service manages connectors and runs the CRM work of every tenant.
type Service struct {
	DB  *store.DB
	Log *slog.Logger
	// Open makes the client for a connector. Tests replace it.
	Open func(*parley.Connector) (Client, error)
}

// ConnectorInput connects a tenant to its CRM, or changes the connection.
type ConnectorInput struct {
	Type           string
	Name           string
	Dataverse      *parley.DataverseConfig
	Tables         []parley.CRMTable
	CreateLeads    *bool
	LanguageColumn *string
	Languages      []string
	// Verify checks the credentials against the CRM before saving them.
	Verify bool
}

// Connect stores a new connector, after checking its settings and, when
// asked, that the CRM accepts its credentials: a connector saved with a
// wrong secret would fail every log in the background instead of now.
func (s *Service) Connect(ctx context.Context, tenantID string, in ConnectorInput) (*parley.Connector, error) {
	if in.Type == "" {
		in.Type = parley.ConnectorDataverse
	}
	if in.Type != parley.ConnectorDataverse {
		return nil, parley.Errorf(parley.EINVALID, "The connector type is %q; the only type so far is %q.", in.Type, parley.ConnectorDataverse)
	}
	if in.Dataverse == nil {
		return nil, parley.Errorf(parley.EINVALID, "A dataverse connector needs its dataverse settings.")
	}
	c := &parley.Connector{ID: parley.NewID(parley.PrefixConnector), TenantID: tenantID, Type: in.Type, Name: in.Name, Tables: in.Tables}
	if len(c.Tables) == 0 {
		c.Tables = parley.DefaultCRMTables()
	}
	dv := *in.Dataverse
	dv.WebhookKey = newKey()
	c.Dataverse = &dv
	if err := s.apply(c, in); err != nil {
		return nil, err
	}
	if err := s.verify(ctx, c, in.Verify); err != nil {
		return nil, err
	}
	if err := s.DB.CreateConnector(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// Update changes a connector. Settings left empty keep their values, so a
// client secret can be rotated alone.
func (s *Service) Update(ctx context.Context, tenantID, id string, in ConnectorInput) (*parley.Connector, error) {
	c, err := s.DB.FindConnector(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if in.Type != "" && in.Type != c.Type {
		return nil, parley.Errorf(parley.EINVALID, "A connector's type cannot be changed.")
	}
	if in.Name != "" {
		c.Name = in.Name
	}
	if len(in.Tables) > 0 {
		c.Tables = in.Tables
	}
	if d := in.Dataverse; d != nil && c.Dataverse != nil {
		merged := *c.Dataverse
		for dst, src := range map[*string]string{&merged.EnvironmentURL: d.EnvironmentURL, &merged.EntraTenantID: d.EntraTenantID,
			&merged.ClientID: d.ClientID, &merged.ClientSecret: d.ClientSecret, &merged.TokenURL: d.TokenURL, &merged.APIBase: d.APIBase} {
			if src != "" {
				*dst = src
			}
		}
		c.Dataverse = &merged
	}
	if err := s.apply(c, in); err != nil {
		return nil, err
	}
	if err := s.verify(ctx, c, in.Verify); err != nil {
		return nil, err
	}
	if err := s.DB.UpdateConnector(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// apply checks a connector's settings and sets the optional ones given.
func (s *Service) apply(c *parley.Connector, in ConnectorInput) error {
	if err := c.Dataverse.Check(); err != nil {
		return err
	}
	tables, err := parley.CheckTables(c.Tables)
	if err != nil {
		return err
	}
	c.Tables = tables
	if in.CreateLeads != nil {
		c.CreateLeads = *in.CreateLeads
	}
	if in.LanguageColumn != nil {
		c.LanguageColumn = *in.LanguageColumn
	}
	if in.Languages != nil {
		c.Languages = in.Languages
	}
	if c.CreateLeads {
		if _, ok := c.Table("lead"); !ok {
			return parley.Errorf(parley.EINVALID, "create_leads needs the lead table among the tables.")
		}
	}
	return nil
}

func (s *Service) verify(ctx context.Context, c *parley.Connector, want bool) error {
	if !want || s.Open == nil {
		return nil
	}
	cl, err := s.Open(c)
	if err != nil {
		return err
	}
	if err := cl.Check(ctx); err != nil {
		return parley.Errorf(parley.EINVALID, "Dataverse refused the connection: %s", parley.ErrorMessage(err))
	}
	return nil
}

// newKey is a random key for a CRM's webhooks to Parley.
func newKey() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
