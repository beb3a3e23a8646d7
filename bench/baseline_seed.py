"""The seed workflow, written the plain way a notebook would: the yardstick for segmint.

pandas + scikit-learn + seaborn, top to bottom, no tricks: read the CSV, drop exact duplicates
and rows without a customer id, one row per customer (n_products, n_canceled_orders), a
correlation heatmap, the KMeans elbow over k=1..10, KMeans, a pair plot, violins, the GMM
BIC/AIC over 1..10 components, violins again. Saves the PNGs and the customer table.

    python bench/baseline_seed.py LOG.csv OUTDIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

path, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
FEATURES = ["n_products", "n_canceled_orders"]

# load and clean
df = pd.read_csv(path)
df = df.drop_duplicates()
df = df.dropna(subset=["CustomerID"])

# one row per customer
df["is_cancel"] = df["InvoiceNo"].astype(str).str.startswith("C")
n_products = df[~df["is_cancel"]].groupby("CustomerID")["StockCode"].nunique()
n_canceled = df[df["is_cancel"]].groupby("CustomerID")["InvoiceNo"].nunique()
customers = pd.DataFrame(index=pd.Index(df["CustomerID"].unique(), name="CustomerID"))
customers["n_products"] = n_products.reindex(customers.index, fill_value=0)
customers["n_canceled_orders"] = n_canceled.reindex(customers.index, fill_value=0)
customers = customers.sort_index()
customers.to_csv(out / "customers.csv")

# correlation heatmap
plt.figure(figsize=(5, 4))
sns.heatmap(customers[FEATURES].corr(), annot=True, cmap="coolwarm")
plt.savefig(out / "heatmap.png", dpi=100)
plt.close()

# elbow
X = StandardScaler().fit_transform(np.log1p(customers[FEATURES]))
wcss = [KMeans(n_clusters=k, n_init=10, random_state=0).fit(X).inertia_ for k in range(1, 11)]
plt.figure()
plt.plot(range(1, 11), wcss, marker="o")
plt.xlabel("k")
plt.ylabel("WCSS")
plt.savefig(out / "elbow.png", dpi=100)
plt.close()

# KMeans, pair plot, violins
customers["kmeans"] = KMeans(n_clusters=4, n_init=10, random_state=0).fit_predict(X)
sns.pairplot(customers, vars=FEATURES, hue="kmeans", palette="tab10")
plt.savefig(out / "pairplot.png", dpi=100)
plt.close()
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, feature in zip(axes, FEATURES, strict=True):
    sns.violinplot(data=customers, x="kmeans", y=feature, ax=ax)
plt.savefig(out / "violins_kmeans.png", dpi=100)
plt.close()

# GMM BIC/AIC, violins
bic, aic = [], []
for n in range(1, 11):
    gmm = GaussianMixture(n_components=n, random_state=0).fit(X)
    bic.append(gmm.bic(X))
    aic.append(gmm.aic(X))
plt.figure()
plt.plot(range(1, 11), bic, marker="o", label="BIC")
plt.plot(range(1, 11), aic, marker="o", label="AIC")
plt.legend()
plt.savefig(out / "gmm_bic_aic.png", dpi=100)
plt.close()
best = int(np.argmin(bic)) + 1
customers["gmm"] = GaussianMixture(n_components=best, random_state=0).fit_predict(X)
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, feature in zip(axes, FEATURES, strict=True):
    sns.violinplot(data=customers, x="gmm", y=feature, ax=ax)
plt.savefig(out / "violins_gmm.png", dpi=100)
plt.close()
print(f"{len(customers)} customers, GMM with {best} components; wrote {out}")
