package main

import (
	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/crm"
	"github.com/parleyhq/parley/crm/dataverse"
)

// openCRM makes the client of a tenant's CRM connector.
func (m *Main) openCRM(c *parley.Connector) (crm.Client, error) {
	if c.Type == parley.ConnectorWebhook {
		return m.AnyCRM.Open(c)
	}
	opts := append([]dataverse.Option{dataverse.WithLogger(m.Log)}, m.DataverseOptions...)
	cl, err := dataverse.Open(c, opts...)
	if err != nil {
		return nil, err
	}
	return cl, nil
}
