package solution

import (
	"strconv"
	"strings"
)

// Component types of solution.xml's RootComponents
// (solutioncomponent.componenttype,
// https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/solutioncomponent).
const (
	componentEntity      = 1
	componentWebResource = 61
)

// Root component behaviours (solutioncomponent.rootcomponentbehavior).
const (
	includeSubcomponents = 0
	shellOnly            = 2
)

// The export this package claims to be: Dynamics 365 9.1, as in
// solution-examples/ConvertActivityDialog/solution.xml. Dynamics refuses
// solutions from a newer version than its own, and every online
// organization runs 9.2 or later.
const (
	exportVersion  = "9.1.0.17154"
	packageVersion = "9.1"
)

// manifest is solution.xml. Microsoft publishes no schema for it; its
// elements, their order and the publisher's two nil addresses are those of
// every real export (solution-examples/ConvertActivityDialog/solution.xml,
// and the checklist in solution-schemas/README.md §5).
func (c *config) manifest(res []*webResource) ([]byte, error) {
	roots := el("RootComponents")
	// Every component in customizations.xml is declared here. The tables
	// are shells (behavior 2): the solution changes their ribbon and
	// nothing else, and removing it leaves the tables alone.
	for _, t := range c.tables {
		roots.add(el("RootComponent").attr("type", strconv.Itoa(componentEntity), "schemaName", t, "behavior", strconv.Itoa(shellOnly)))
	}
	for _, r := range res {
		roots.add(el("RootComponent").attr("type", strconv.Itoa(componentWebResource), "schemaName", r.name, "behavior", strconv.Itoa(includeSubcomponents)))
	}
	root := el("ImportExportXml",
		el("SolutionManifest",
			textEl("UniqueName", UniqueName),
			el("LocalizedNames", localized("LocalizedName", "Parley for WhatsApp")),
			el("Descriptions", localized("Description",
				"A WhatsApp button on the forms of "+listTables(c.tables)+": it opens Parley's chat with the record's customer in a side pane.")),
			textEl("Version", c.version),
			textEl("Managed", "0"),
			el("Publisher",
				textEl("UniqueName", Prefix),
				el("LocalizedNames", localized("LocalizedName", "Parley")),
				el("Descriptions"),
				nilEl("EMailAddress"),
				nilEl("SupportingWebsiteUrl"),
				textEl("CustomizationPrefix", Prefix),
				textEl("CustomizationOptionValuePrefix", strconv.Itoa(optionValuePrefix)),
				el("Addresses", address(1), address(2)),
			),
			roots,
			el("MissingDependencies"),
		),
	).attr(
		"version", exportVersion,
		"SolutionPackageVersion", packageVersion,
		"languagecode", strconv.Itoa(english),
		"generatedBy", "CrmLive",
		"xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance",
	)
	return document(root)
}

func localized(name, text string) *node {
	return el(name).attr("description", text, "languagecode", strconv.Itoa(english))
}

// address is one of the two empty publisher addresses every export
// carries.
func address(n int) *node {
	a := el("Address",
		textEl("AddressNumber", strconv.Itoa(n)),
		textEl("AddressTypeCode", "1"),
	)
	for _, f := range []string{"City", "County", "Country", "Fax", "FreightTermsCode", "ImportSequenceNumber",
		"Latitude", "Line1", "Line2", "Line3", "Longitude", "Name", "PostalCode", "PostOfficeBox", "PrimaryContactName"} {
		a.add(nilEl(f))
	}
	a.add(textEl("ShippingMethodCode", "1"))
	for _, f := range []string{"StateOrProvince", "Telephone1", "Telephone2", "Telephone3", "TimeZoneRuleVersionNumber",
		"UPSZone", "UTCOffset", "UTCConversionTimeZoneCode"} {
		a.add(nilEl(f))
	}
	return a
}

// listTables writes tables as "lead, contact and account".
func listTables(tables []string) string {
	if len(tables) < 2 {
		return strings.Join(tables, "")
	}
	return strings.Join(tables[:len(tables)-1], ", ") + " and " + tables[len(tables)-1]
}

// contentTypes is [Content_Types].xml, the Open Packaging Conventions
// index of the zip's parts. Real exports declare every part as
// application/octet-stream: the XML files by extension, and extension-less
// web resource files one by one (the PCAPredict/Dynamics365 export).
func contentTypes(res []*webResource) ([]byte, error) {
	const octets = "application/octet-stream"
	root := el("Types", el("Default").attr("Extension", "xml", "ContentType", octets)).
		attr("xmlns", "http://schemas.openxmlformats.org/package/2006/content-types")
	for _, r := range res {
		root.add(el("Override").attr("PartName", r.fileName(), "ContentType", octets))
	}
	return document(root)
}
