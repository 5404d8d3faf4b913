"""HTTP clients. The only code that talks to Klaviyo and LINE."""
