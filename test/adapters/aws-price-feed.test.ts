// EC2 and the Price List Query API have no local server here, so these tests use
// aws-sdk-client-mock, answering in the shapes the APIs return: DescribeSpotPriceHistory's
// SpotPriceHistory items (newest first, SpotPrice a decimal string, NextToken "" on the last
// page) and GetProducts' PriceList, an array of JSON *strings*.
import { afterEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { DescribeSpotPriceHistoryCommand, EC2Client, type _InstanceType } from "@aws-sdk/client-ec2";
import { GetProductsCommand, PricingClient } from "@aws-sdk/client-pricing";
import { ec2SpotPriceHistory } from "../../functions/adapters/ec2-spot-price-history.js";
import { awsPriceList } from "../../functions/adapters/aws-price-list.js";
import { PriceFeedUnavailableError } from "../../functions/metering/month-prices.js";

const ec2 = mockClient(EC2Client);
const pricing = mockClient(PricingClient);
afterEach(() => {
  ec2.reset();
  pricing.reset();
});

const START = Date.parse("2026-09-30T15:00:00Z");
const END = Date.parse("2026-10-31T15:00:00Z");
const item = (zone: string, price: string, iso: string, type = "g4dn.12xlarge") => ({
  AvailabilityZone: zone,
  InstanceType: type as _InstanceType,
  ProductDescription: "Linux/UNIX" as const,
  SpotPrice: price,
  Timestamp: new Date(iso),
});

describe("EC2 Spot price history adapter", () => {
  it("given three pages over two zones with a change mid-month, when asked for the month, then every change of every page is read with the request's filters", async () => {
    const pages: Record<string, object> = {
      first: {
        SpotPriceHistory: [
          item("ap-northeast-2a", "1.700000", "2026-10-14T06:00:00Z"),
          item("ap-northeast-2c", "1.500000", "2026-10-02T11:00:00Z"),
        ],
        NextToken: "page-2",
      },
      "page-2": { SpotPriceHistory: [item("ap-northeast-2a", "1.200000", "2026-09-28T03:00:00Z")], NextToken: "page-3" },
      "page-3": { SpotPriceHistory: [item("ap-northeast-2c", "1.450000", "2026-09-20T00:00:00Z", "g5.12xlarge")], NextToken: "" },
    };
    // The paginator reuses its input object, so the token each call carried is recorded as it is sent.
    const tokens: (string | undefined)[] = [];
    ec2
      .on(DescribeSpotPriceHistoryCommand)
      .callsFake((input: { NextToken?: string }) => (tokens.push(input.NextToken), pages[input.NextToken ?? "first"]));
    const got = await ec2SpotPriceHistory(new EC2Client({ region: "ap-northeast-2" })).changes({
      instanceTypes: ["g4dn.12xlarge", "g5.12xlarge"],
      zones: ["ap-northeast-2a", "ap-northeast-2c"],
      startMs: START,
      endMs: END,
    });
    expect(got).toEqual([
      {
        instanceType: "g4dn.12xlarge",
        zone: "ap-northeast-2a",
        productDescription: "Linux/UNIX",
        at: "2026-10-14T06:00:00.000Z",
        hourly: "1.700000",
      },
      {
        instanceType: "g4dn.12xlarge",
        zone: "ap-northeast-2c",
        productDescription: "Linux/UNIX",
        at: "2026-10-02T11:00:00.000Z",
        hourly: "1.500000",
      },
      {
        instanceType: "g4dn.12xlarge",
        zone: "ap-northeast-2a",
        productDescription: "Linux/UNIX",
        at: "2026-09-28T03:00:00.000Z",
        hourly: "1.200000",
      },
      {
        instanceType: "g5.12xlarge",
        zone: "ap-northeast-2c",
        productDescription: "Linux/UNIX",
        at: "2026-09-20T00:00:00.000Z",
        hourly: "1.450000",
      },
    ]);
    const calls = ec2.commandCalls(DescribeSpotPriceHistoryCommand).map((c) => c.args[0].input);
    expect(tokens).toEqual([undefined, "page-2", "page-3"]);
    expect(calls[0]).toMatchObject({
      StartTime: new Date(START),
      EndTime: new Date(END),
      InstanceTypes: ["g4dn.12xlarge", "g5.12xlarge"],
      ProductDescriptions: ["Linux/UNIX"],
      Filters: [{ Name: "availability-zone", Values: ["ap-northeast-2a", "ap-northeast-2c"] }],
      MaxResults: 1000,
    });
  });

  it("given an item without a price, then it is refused, not skipped", async () => {
    ec2
      .on(DescribeSpotPriceHistoryCommand)
      .resolves({ SpotPriceHistory: [{ ...item("ap-northeast-2a", "1", "2026-10-01T00:00:00Z"), SpotPrice: undefined }] });
    await expect(
      ec2SpotPriceHistory(new EC2Client({ region: "ap-northeast-2" })).changes({
        instanceTypes: ["g4dn.12xlarge"],
        zones: ["ap-northeast-2a"],
        startMs: START,
        endMs: END,
      }),
    ).rejects.toThrow(/incomplete item/);
  });

  it("given EC2 throttling, then it is PriceFeedUnavailableError (retry later)", async () => {
    ec2
      .on(DescribeSpotPriceHistoryCommand)
      .rejects(Object.assign(new Error("Rate exceeded"), { name: "RequestLimitExceeded", $retryable: { throttling: true } }));
    await expect(
      ec2SpotPriceHistory(new EC2Client({ region: "ap-northeast-2" })).changes({
        instanceTypes: ["g4dn.12xlarge"],
        zones: ["ap-northeast-2a"],
        startMs: START,
        endMs: END,
      }),
    ).rejects.toBeInstanceOf(PriceFeedUnavailableError);
  });
});

/** One AmazonEC2 product as GetProducts returns it (FormatVersion aws_v1), abridged to real fields. */
const product = (instanceType: string, usd: string, sku: string) =>
  JSON.stringify({
    product: {
      productFamily: "Compute Instance",
      attributes: {
        instanceType,
        regionCode: "ap-northeast-2",
        location: "Asia Pacific (Seoul)",
        operatingSystem: "Linux",
        tenancy: "Shared",
        preInstalledSw: "NA",
        licenseModel: "No License required",
        capacitystatus: "Used",
        usagetype: `APN2-BoxUsage:${instanceType}`,
        operation: "RunInstances",
        servicecode: "AmazonEC2",
      },
      sku,
    },
    serviceCode: "AmazonEC2",
    terms: {
      OnDemand: {
        [`${sku}.JRTCKXETXF`]: {
          priceDimensions: {
            [`${sku}.JRTCKXETXF.6YS6EN2CT7`]: {
              unit: "Hrs",
              endRange: "Inf",
              description: `$${usd} per On Demand Linux ${instanceType} Instance Hour`,
              appliesTo: [],
              rateCode: `${sku}.JRTCKXETXF.6YS6EN2CT7`,
              beginRange: "0",
              pricePerUnit: { USD: usd },
            },
          },
          sku,
          effectiveDate: "2026-10-01T00:00:00Z",
          offerTermCode: "JRTCKXETXF",
          termAttributes: {},
        },
      },
      Reserved: {
        [`${sku}.4NA7Y494T4`]: {
          priceDimensions: {
            [`${sku}.4NA7Y494T4.6YS6EN2CT7`]: {
              unit: "Hrs",
              pricePerUnit: { USD: "2.9000000000" },
              description: "reserved",
              rateCode: "r",
              beginRange: "0",
              endRange: "Inf",
              appliesTo: [],
            },
          },
          sku,
          effectiveDate: "2026-10-01T00:00:00Z",
          offerTermCode: "4NA7Y494T4",
          termAttributes: { LeaseContractLength: "1yr", OfferingClass: "standard", PurchaseOption: "No Upfront" },
        },
      },
    },
    version: "20261001000000",
    publicationDate: "2026-10-01T00:00:00Z",
  });

describe("AWS Price List adapter", () => {
  it("given one product per type (the second over two pages), when asked, then the OnDemand hourly price of each is read with the Linux shared-tenancy filters, never the Reserved one", async () => {
    const tokens: (string | undefined)[] = [];
    const answers = [
      { FormatVersion: "aws_v1", PriceList: [product("g4dn.12xlarge", "4.8120000000", "G4SKU")], NextToken: undefined },
      { FormatVersion: "aws_v1", PriceList: [], NextToken: "more" },
      { FormatVersion: "aws_v1", PriceList: [product("p4d.24xlarge", "30.4102800000", "P4SKU")] },
    ];
    pricing.on(GetProductsCommand).callsFake((input: { NextToken?: string }) => (tokens.push(input.NextToken), answers[tokens.length - 1]));
    const got = await awsPriceList(new PricingClient({ region: "us-east-1" })).onDemand({
      region: "ap-northeast-2",
      instanceTypes: ["g4dn.12xlarge", "p4d.24xlarge"],
    });
    expect(got).toEqual([
      { instanceType: "g4dn.12xlarge", hourly: "4.8120000000", sku: "G4SKU", effectiveDate: "2026-10-01T00:00:00Z" },
      { instanceType: "p4d.24xlarge", hourly: "30.4102800000", sku: "P4SKU", effectiveDate: "2026-10-01T00:00:00Z" },
    ]);
    const calls = pricing.commandCalls(GetProductsCommand).map((c) => c.args[0].input);
    expect(tokens).toEqual([undefined, undefined, "more"]);
    expect(calls[0]).toMatchObject({ ServiceCode: "AmazonEC2", FormatVersion: "aws_v1" });
    expect(calls[0]!.Filters).toEqual(
      [
        ["instanceType", "g4dn.12xlarge"],
        ["regionCode", "ap-northeast-2"],
        ["operatingSystem", "Linux"],
        ["tenancy", "Shared"],
        ["preInstalledSw", "NA"],
        ["licenseModel", "No License required"],
        ["capacitystatus", "Used"],
      ].map(([Field, Value]) => ({ Type: "TERM_MATCH", Field, Value })),
    );
  });

  it("given a product whose shape is not the documented one, then it is refused naming the field", async () => {
    pricing
      .on(GetProductsCommand)
      .resolves({ FormatVersion: "aws_v1", PriceList: [JSON.stringify({ product: { attributes: {} }, terms: {} })] });
    await expect(
      awsPriceList(new PricingClient({ region: "us-east-1" })).onDemand({ region: "ap-northeast-2", instanceTypes: ["g4dn.12xlarge"] }),
    ).rejects.toThrow(/does not understand: product\.sku/);
  });
});
