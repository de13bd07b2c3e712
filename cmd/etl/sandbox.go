package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/etl-engine/etl/connectors/qbo/sandbox"
)

func newSandboxCmd(a *app) *cobra.Command {
	var (
		addr string
		o    sandbox.Options
		f    sandbox.Faults
		ttl  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve a local QuickBooks Online compatible API (for tests and demos)",
		Long: `Serve a QBO-compatible API on a local address: the OAuth2 token endpoint
(/oauth2/v1/tokens/bearer, with refresh-token rotation) and the query
endpoint (/v3/company/{realm}/query), with QBO's envelopes, faults and
limits. Its data is generated from --seed, so the same flags serve the same
records. Point pipelines at it with:

  QBO_BASE_URL=http://127.0.0.1:8089 QBO_TOKEN_URL=http://127.0.0.1:8089/oauth2/v1/tokens/bearer

and use the client id, client secret, refresh token and realm id the
sandbox prints at start-up (they are fake values; the sandbox accepts only
those). Fault flags inject QBO's failure modes.`,
		Example: `  etl sandbox --addr 127.0.0.1:8089 --seed 7 --customers 2500 --items 300 --invoices 10000`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := a.logger(cmd.ErrOrStderr())
			if err != nil {
				return withCode(exitConfig, err)
			}
			o.AccessTokenTTL = ttl
			if cmd.Flags().Changed("inactive-fraction") && o.InactiveFraction == 0 {
				o.InactiveFraction = -1 // the sandbox reads 0 as "default"; the flag's 0 means none
			}
			o.Faults = f
			o.Logger = log
			srv, err := sandbox.New(o)
			if err != nil {
				return withCode(exitConfig, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "QBO sandbox on http://%s (realm %s): %d customers, %d items, %d invoices\n",
				addr, srv.RealmID(), o.Customers, o.Items, o.Invoices)
			fmt.Fprintf(cmd.OutOrStdout(), "  QBO_BASE_URL=http://%s QBO_TOKEN_URL=http://%s/oauth2/v1/tokens/bearer QBO_REALM_ID=%s\n", addr, addr, srv.RealmID())
			fmt.Fprintf(cmd.OutOrStdout(), "  accepts client id %q, client secret %q and initial refresh token %q (fake sandbox values)\n",
				o.ClientID, o.ClientSecret, o.RefreshToken)
			return srv.ListenAndServe(cmd.Context(), addr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&addr, "addr", "127.0.0.1:8089", "address to listen on")
	fl.Int64Var(&o.Seed, "seed", 1, "seed of the generated data")
	fl.IntVar(&o.Customers, "customers", 2500, "customers to generate")
	fl.IntVar(&o.Items, "items", 300, "items to generate")
	fl.IntVar(&o.Invoices, "invoices", 10000, "invoices to generate")
	fl.Float64Var(&o.InactiveFraction, "inactive-fraction", 0.1, "share of customers and items generated inactive (negative: none)")
	fl.StringVar(&o.RealmID, "realm", sandbox.DefaultRealmID, "realm (company) id served")
	fl.StringVar(&o.ClientID, "client-id", "sandbox-client-id", "OAuth2 client id accepted")
	fl.StringVar(&o.ClientSecret, "client-secret", "sandbox-client-secret", "OAuth2 client secret accepted")
	fl.StringVar(&o.RefreshToken, "refresh-token", "sandbox-refresh-token-0", "initial refresh token accepted")
	fl.DurationVar(&ttl, "access-token-ttl", time.Hour, "lifetime of issued access tokens")
	fl.StringVar(&o.TokenStateFile, "token-state", "", "file keeping the valid refresh token across restarts (created 0600)")
	fl.IntVar(&o.RequestsPerMinute, "requests-per-minute", 500, "per-realm request limit (429 above; negative disables)")
	fl.IntVar(&o.MaxInFlight, "max-in-flight", 10, "per-realm concurrent request limit (429 above; negative disables)")
	fl.IntVar(&f.Every429, "fault-429-every", 0, "answer every K-th data request with 429")
	fl.BoolVar(&f.XML429, "fault-429-xml", false, "send 429 bodies as XML, as QBO has done")
	fl.IntVar(&f.Every5xx, "fault-5xx-every", 0, "answer every K-th data request with 500/503")
	fl.DurationVar(&f.Latency, "fault-latency", 0, "latency added to every data request")
	fl.IntVar(&f.EveryTruncated, "fault-truncated-every", 0, "cut every K-th response body in half")
	fl.IntVar(&f.EveryMalformed, "fault-malformed-every", 0, "answer every K-th data request with HTML")
	fl.IntVar(&f.TokenExpiresAfterRequests, "fault-token-expires-after", 0, "each access token stops working after K data requests")
	fl.IntVar(&f.MutateDuringPaging, "fault-mutate-during-paging", 0, "update a record while the first N multi-page queries are paged")
	fl.IntVar(&f.LoseRefreshResponse, "fault-lose-refresh-response", 0, "the K-th refresh rotates the token but answers 502 (the client never sees it)")
	return cmd
}
