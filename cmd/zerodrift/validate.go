package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/zerodrift/zerodrift/config"
)

func newValidateCmd(g *globals, s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check a configuration file, its exemptions and playbooks; report every problem at once",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if g.configPath == "" {
				return errors.New("validate needs --config FILE")
			}
			cfg, err := config.Load(g.configPath)
			if err != nil {
				return err
			}
			// The playbooks the configuration names are part of it: check them too.
			set, err := loadPlaybooks(cfg)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(s.out, "%s: valid (%d exemptions, %d playbooks)\n", g.configPath, len(cfg.Exemptions), set.Len())
			return err
		},
	}
}

// loadConfig reads --config, or returns the defaults when none is given.
func (g *globals) loadConfig() (*config.Config, error) {
	if g.configPath == "" {
		return config.Default(), nil
	}
	return config.Load(g.configPath)
}
