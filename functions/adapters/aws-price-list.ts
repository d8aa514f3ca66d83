import { paginateGetProducts, type PricingClient } from "@aws-sdk/client-pricing";
import { z } from "zod";
import type { OnDemandQuote } from "../core/price-snapshot.js";
import { asPriceFeedError, type OnDemandPriceList } from "../metering/month-prices.js";

/**
 * One PriceList entry of pricing:GetProducts. The API returns each product as a JSON *string*
 * (AWS Price List Query API reference, GetProducts `PriceList`); an EC2 product carries its
 * attributes and its OnDemand terms, each term's `priceDimensions.<rateCode>.pricePerUnit.USD`
 * per `unit` ("Hrs"). Only the fields read here are checked.
 */
const ProductSchema = z.object({
  product: z.object({
    sku: z.string(),
    attributes: z.object({ instanceType: z.string(), regionCode: z.string().optional() }).passthrough(),
  }),
  terms: z
    .object({
      OnDemand: z
        .record(
          z.string(),
          z
            .object({
              effectiveDate: z.string().optional(),
              priceDimensions: z.record(
                z.string(),
                z.object({ unit: z.string(), pricePerUnit: z.object({ USD: z.string() }).passthrough() }).passthrough(),
              ),
            })
            .passthrough(),
        )
        .optional(),
    })
    .passthrough(),
});

/**
 * The On-Demand port on the AWS Price List Query API. The API is served from us-east-1 and
 * ap-south-1 only, whatever region is priced (hence a client of its own). The filters are the
 * documented TERM_MATCH fields of the AmazonEC2 service that select exactly one Linux product:
 * instanceType, regionCode, operatingSystem Linux, tenancy Shared, preInstalledSw NA,
 * licenseModel "No License required", capacitystatus Used (a reservation's unused capacity is
 * another SKU).
 */
export function awsPriceList(client: PricingClient): OnDemandPriceList {
  return {
    async onDemand(req) {
      try {
        return await onDemandQuotes(client, req);
      } catch (e) {
        throw asPriceFeedError(e, "pricing:GetProducts");
      }
    },
  };
}

async function onDemandQuotes(client: PricingClient, req: { region: string; instanceTypes: string[] }): Promise<OnDemandQuote[]> {
  const out: OnDemandQuote[] = [];
  for (const instanceType of req.instanceTypes) {
    const match = (Field: string, Value: string) => ({ Type: "TERM_MATCH" as const, Field, Value });
    const pages = paginateGetProducts(
      { client },
      {
        ServiceCode: "AmazonEC2",
        FormatVersion: "aws_v1",
        Filters: [
          match("instanceType", instanceType),
          match("regionCode", req.region),
          match("operatingSystem", "Linux"),
          match("tenancy", "Shared"),
          match("preInstalledSw", "NA"),
          match("licenseModel", "No License required"),
          match("capacitystatus", "Used"),
        ],
      },
    );
    for await (const page of pages)
      for (const item of page.PriceList ?? []) {
        const doc = ProductSchema.safeParse(JSON.parse(String(item)));
        if (!doc.success)
          throw new Error(
            `pricing:GetProducts returned a product this reader does not understand: ${doc.error.issues.map((i) => i.path.join(".")).join(", ")}`,
          );
        const p = doc.data;
        if (p.product.attributes.instanceType !== instanceType) continue;
        for (const term of Object.values(p.terms.OnDemand ?? {}))
          for (const dim of Object.values(term.priceDimensions)) {
            if (dim.unit !== "Hrs") continue;
            out.push({
              instanceType,
              hourly: dim.pricePerUnit.USD,
              sku: p.product.sku,
              ...(term.effectiveDate ? { effectiveDate: term.effectiveDate } : {}),
            });
          }
      }
  }
  return out;
}
