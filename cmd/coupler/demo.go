package main

import (
	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/examples/demo"
)

func newDemo(g *globals) *cobra.Command {
	var opts demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run plan and apply against two built-in fake servers",
		Long: `demo starts two fake OData v4 servers on loopback, one shaped like Business
Central's API (customers) and one like Dataverse's Web API (accounts), seeds
the ERP with customers, and runs the bundled CUSTOMER mapping: plan, apply,
edit a few customers, plan, apply, plan again. It leaves nothing running
unless --keep is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo.Run(cmd.Context(), g.stdout, opts)
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Customers, "customers", 1000, "customers to seed in the fake ERP")
	f.BoolVar(&opts.Keep, "keep", false, "keep the servers running and print where they are")
	f.StringVar(&opts.Dir, "project", "", "directory to write the demo project in (default: a temporary one)")
	f.IntVar(&opts.Limit, "limit", 3, "operations to list per mapping in each plan")
	return cmd
}
