package solution_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"log"

	"github.com/parleyhq/parley/crm/dataverse/solution"
)

// The zip's layout: the three files of every solution, then the web
// resources, named as Dynamics' own exports name them.
func ExampleBuild() {
	b, err := solution.Build(solution.Options{
		BaseURL: "https://parley.example.com",
		Tables:  []string{"lead", "contact", "account", "new_student"},
	})
	if err != nil {
		log.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range zr.File {
		fmt.Println(f.Name)
	}
	// Output:
	// [Content_Types].xml
	// solution.xml
	// customizations.xml
	// WebResources/parley_whatsappcommandjsCC6FF661-9FBF-5FAD-9DB3-6DFAAD91CD4D
	// WebResources/parley_whatsapppanehtm48947921-3859-5269-9CEB-C15C85C23348
	// WebResources/parley_whatsappiconsvg197B6EDF-2C81-553D-BFA5-7B440A14A00A
}
