"""The staff web app: server-side pages over the one client layer (client/), signed in through signin/."""
