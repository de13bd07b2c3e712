package doctor

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/etl-engine/etl/connectors/qbo"
	"github.com/etl-engine/etl/engine/config"
	"github.com/etl-engine/etl/engine/secret"
)

// QBOConfig is the QBO connection of one or more pipelines, resolved from
// their qbo.query settings as a run resolves them.
type QBOConfig struct {
	// Pipelines are the pipelines that use this connection, sorted.
	Pipelines []string
	// Realm is the company id; the credential store keys its tokens by
	// qbo/<Realm>.
	Realm                                string
	ClientID, ClientSecret, RefreshToken secret.Value
	// Environment is sandbox or production; BaseURL and TokenURL are the
	// endpoints, with Intuit's defaults applied.
	Environment, BaseURL, TokenURL string
	// Err says why some settings could not be resolved (a missing secret,
	// for example); the endpoints may still be set.
	Err error
}

// QBOConfigs resolves the qbo.query settings of the pipelines: secrets with
// r, ${env:NAME} with lookup (nil: nothing is set). Pipelines that share
// realm and endpoints share one QBOConfig. Settings that depend on a
// parameter cannot be resolved without a run and are reported in Err.
func QBOConfigs(pipelines []*config.Pipeline, r *secret.Resolver, lookup func(string) (string, bool)) []QBOConfig {
	if r == nil {
		r = &secret.Resolver{}
	}
	lookup = lookupOrUnset(lookup)
	var out []QBOConfig
	for _, p := range pipelines {
		if p.Loader.Use != qbo.Name {
			continue
		}
		c := resolveQBO(p, r, lookup)
		i := slices.IndexFunc(out, func(o QBOConfig) bool {
			return o.Realm == c.Realm && o.BaseURL == c.BaseURL && o.TokenURL == c.TokenURL
		})
		if i < 0 {
			out = append(out, c)
			continue
		}
		out[i].Pipelines = append(out[i].Pipelines, p.Name)
		slices.Sort(out[i].Pipelines)
		if out[i].Err == nil {
			out[i].Err = c.Err
		}
	}
	return out
}

// resolveQBO resolves one pipeline's loader settings.
func resolveQBO(p *config.Pipeline, r *secret.Resolver, lookup func(string) (string, bool)) QBOConfig {
	c := QBOConfig{Pipelines: []string{p.Name}}
	var errs []error
	failed := map[string]bool{}
	text := func(field string) string {
		raw, present := p.Loader.With[field]
		if !present {
			return ""
		}
		v, err := resolveText(raw, r, lookup)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
			failed[field] = true
		}
		return v
	}
	sec := func(field string) secret.Value {
		v := text(field)
		return secret.New(field, v)
	}
	c.Realm = strings.TrimSpace(text(qbo.FieldRealmID))
	c.ClientID = sec(qbo.FieldClientID)
	c.ClientSecret = sec(qbo.FieldClientSecret)
	c.RefreshToken = sec(qbo.FieldRefreshToken)
	c.Environment = text(qbo.FieldEnvironment)
	if c.Environment == "" {
		c.Environment = "production"
	}
	c.BaseURL = strings.TrimRight(text(qbo.FieldBaseURL), "/")
	if c.BaseURL == "" {
		c.BaseURL = qbo.ProductionBaseURL
		if c.Environment == "sandbox" {
			c.BaseURL = qbo.SandboxBaseURL
		}
	}
	c.TokenURL = text(qbo.FieldTokenURL)
	if c.TokenURL == "" {
		c.TokenURL = qbo.TokenURL
	}
	for _, f := range []struct {
		name string
		v    secret.Value
	}{{qbo.FieldClientID, c.ClientID}, {qbo.FieldClientSecret, c.ClientSecret}, {qbo.FieldRefreshToken, c.RefreshToken}} {
		if f.v.IsZero() && !failed[f.name] {
			errs = append(errs, fmt.Errorf("%s is empty", f.name))
		}
	}
	if c.Realm == "" && !failed[qbo.FieldRealmID] {
		errs = append(errs, fmt.Errorf("%s is empty", qbo.FieldRealmID))
	}
	c.Err = errors.Join(errs...)
	return c
}

// resolveText evaluates a raw setting that holds ${env:...} and
// ${secret:...} references. Secret errors never hold the value.
func resolveText(raw any, r *secret.Resolver, lookup func(string) (string, bool)) (string, error) {
	s, isString := raw.(string)
	if !isString {
		return fmt.Sprint(raw), nil
	}
	t, _, err := config.ParseTemplate(s)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, seg := range t {
		ref := seg.Ref
		switch {
		case ref == nil:
			b.WriteString(seg.Text)
		case ref.Kind == config.RefEnv:
			if v, set := lookup(ref.Name); set {
				b.WriteString(v)
			} else if ref.HasDefault {
				b.WriteString(ref.Default)
			} else {
				return "", fmt.Errorf("environment variable %s is not set", ref.Name)
			}
		case ref.Kind == config.RefSecret:
			v, _, err := r.Lookup(ref.Name)
			if errors.Is(err, secret.ErrNotFound) {
				return "", fmt.Errorf("secret %s is not set", ref.Name)
			}
			if err != nil {
				return "", err
			}
			b.WriteString(v.Reveal())
		default:
			return "", fmt.Errorf("depends on the parameter %s, known only when a run starts", ref.Name)
		}
	}
	return b.String(), nil
}
