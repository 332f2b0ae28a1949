package main

import (
	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/examples/demo"
)

func newDemo(g *globals) *cobra.Command {
	var (
		opts demo.Options
		all  bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run plan and apply against two built-in fake servers",
		Long: `demo starts two fake OData v4 servers on loopback, one shaped like Business
Central's API (customers) and one like Dataverse's Web API (accounts), seeds
the ERP with customers, and runs the bundled CUSTOMER mapping: plan, apply,
edit a few customers, plan, apply, plan again. It leaves nothing running
unless --keep is given.

With --all it runs every bundled bc-dataverse mapping instead, in dependency
order, over two rounds of edits on both sides.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all {
				if !cmd.Flags().Changed("customers") {
					opts.Customers = 0 // RunAll picks its own default
				}
				return demo.RunAll(cmd.Context(), g.stdout, opts)
			}
			return demo.Run(cmd.Context(), g.stdout, opts)
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Customers, "customers", 1000, "customers to seed in the fake ERP")
	f.BoolVar(&opts.Keep, "keep", false, "keep the servers running and print where they are")
	f.StringVar(&opts.Dir, "project", "", "directory to write the demo project in (default: a temporary one)")
	f.IntVar(&opts.Limit, "limit", 3, "operations to list per mapping in each plan")
	f.BoolVar(&all, "all", false, "run the whole bundled bc-dataverse set in dependency order, against fakes seeded with every entity it uses")
	return cmd
}
