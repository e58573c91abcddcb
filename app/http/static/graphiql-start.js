// Starts GraphiQL (app/static/graphiql/) with what the server put in the page's
// #graphiql-config: the endpoint, the opening document and, in development, the demo
// customer's Authorization header. Headers are never stored in the browser.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("graphiql-config").textContent);
  var endpoint = new URL(config.endpoint, window.location.href);
  var socket = new URL(endpoint.href);
  socket.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
  var props = {
    // Subscriptions go over a websocket to the same path, opened only when one runs;
    // the headers editor's JSON is its connection_init payload (the Authorization header).
    fetcher: GraphiQL.createFetcher({ url: endpoint.href, subscriptionUrl: socket.href }),
    defaultQuery: config.defaultQuery,
    defaultEditorToolsVisibility: config.headers ? "headers" : true,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
    inputValueDeprecation: true,
  };
  if (config.query) {
    props.query = config.query; // opened in its own tab even when others are stored
  }
  if (config.headers) {
    props.headers = config.headers;
    props.defaultHeaders = config.headers; // new tabs send the token too
  }
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, props)
  );
})();
