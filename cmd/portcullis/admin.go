package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portcullis/portcullis/internal/adminclient"
)

// serverFlags locate the server: --addr, --ca, --data and -o/--output.
type serverFlags struct {
	addr, ca, data string
	output         string
}

func (f *serverFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.addr, "addr", "", "server base URL, e.g. https://localhost:8443 (default $"+adminclient.EnvAddr+", else the addr in DATA/admin.json)")
	fs.StringVar(&f.ca, "ca", "", "PEM file of the CA that issued the server's TLS certificate (default $"+adminclient.EnvCA+", else the ca in DATA/admin.json, else the system roots)")
	fs.StringVar(&f.data, "data", "", "data directory of 'portcullis serve --dev' holding admin.json (default $"+adminclient.EnvData+", else ./"+adminclient.DefaultDataDir+")")
	fs.StringVarP(&f.output, "output", "o", "table", "output format: table or json (json uses the admin API's field names)")
}

func (f *serverFlags) flags() adminclient.Flags {
	return adminclient.Flags{Addr: f.addr, CA: f.ca, DataDir: f.data}
}

// printer returns the output writer after checking --output.
func (f *serverFlags) printer(cmd *cobra.Command) (*printer, error) {
	switch strings.ToLower(f.output) {
	case "table", "":
		return &printer{w: cmd.OutOrStdout()}, nil
	case "json":
		return &printer{w: cmd.OutOrStdout(), json: true}, nil
	}
	return nil, fmt.Errorf("--output %q: use table or json", f.output)
}

// adminFlags are the persistent flags of every admin command.
type adminFlags struct {
	serverFlags
	tenant string
}

func (f *adminFlags) register(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	f.serverFlags.register(fs)
	fs.StringVar(&f.tenant, "tenant", "default", "tenant to manage: its id or name")
}

// client loads the configuration and returns an admin API client.
func (f *adminFlags) client() (*adminclient.Client, error) {
	cfg, err := adminclient.LoadConfig(f.flags())
	if err != nil {
		return nil, err
	}
	return adminclient.New(cfg)
}

// run is the common shape of an admin command: check the output format,
// connect, then run fn.
func (f *adminFlags) run(cmd *cobra.Command, fn func(c *adminclient.Client, p *printer) error) error {
	p, err := f.printer(cmd)
	if err != nil {
		return err
	}
	if strings.TrimSpace(f.tenant) == "" {
		return errors.New("--tenant is empty: give a tenant's id or name ('portcullis tenant list' shows them), or leave the flag out for the default tenant")
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	return fn(c, p)
}

// adminEnvHelp is appended to the Long text of admin command groups.
const adminEnvHelp = `
Where the server and the admin credential come from, first match wins:
  server address  --addr, $PORTCULLIS_ADDR, addr in DATA/admin.json
  TLS trust       --ca, $PORTCULLIS_CA, ca in DATA/admin.json, system roots
  credential      $PORTCULLIS_CLIENT_ID + $PORTCULLIS_CLIENT_SECRET (token from
                  tenant $PORTCULLIS_TENANT, default "default"), else
                  DATA/admin.json written by 'portcullis serve --dev'
DATA is --data, $PORTCULLIS_DATA or ./portcullis-data. The credential must
belong to an application holding the Portcullis.Admin role.`

// printer writes either tables or the admin API's JSON.
type printer struct {
	w    io.Writer
	json bool
}

// JSON writes v as indented JSON.
func (p *printer) JSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(p.w, "%s\n", b)
	return err
}

// JSONLine writes v as one line of JSON (for streams).
func (p *printer) JSONLine(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(p.w, "%s\n", b)
	return err
}

// table writes a header and rows, aligned in columns.
func (p *printer) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		for i := range r {
			if r[i] == "" {
				r[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// fields writes "Name: value" lines aligned.
func (p *printer) fields(kv ...string) error {
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		v := kv[i+1]
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s:\t%s\n", kv[i], v)
	}
	return tw.Flush()
}

// linef writes one line of text in table mode.
func (p *printer) linef(format string, a ...any) {
	fmt.Fprintf(p.w, format+"\n", a...)
}

// list is the JSON shape of the admin API's list answers.
func list[T any](v []T) adminclient.List[T] {
	if v == nil {
		v = []T{}
	}
	return adminclient.List[T]{Value: v}
}

// when formats a time for tables, in UTC.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}
