"""What the service tells its operators: Prometheus metrics (`metrics`), JSON logs (`logs`)
and what is known of the request being served, for both (`request_info`)."""
