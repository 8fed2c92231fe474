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
		Short: "Check a configuration file and report every problem at once",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if g.configPath == "" {
				return errors.New("validate needs --config FILE")
			}
			if _, err := config.Load(g.configPath); err != nil {
				return err
			}
			_, err := fmt.Fprintf(s.out, "%s: valid\n", g.configPath)
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
