// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";

/// @title OARN compute token (v2)
/// @notice Genesis allocation to `treasury` at deployment; after that only `minter` (the
///         TaskMarket) mints, under the emission schedule: year n (from deployment) is capped at
///         100M COMP × 0.8^(n-1). The minter is set and rotated by `governance` (the
///         TimelockController), so a redeployed market can be wired in by a proposal. There is
///         no flat per-job bonus: the market decides how much to mint (pro rata to burned fees).
contract COMPTokenV2 is ERC20, ERC20Burnable {
    uint256 public constant YEAR_ONE_CAP = 100_000_000 ether;
    uint256 public constant YEAR = 365 days;

    uint256 public immutable emissionStart;
    address public governance;
    address public minter;
    mapping(uint256 year => uint256 amount) public mintedInYear;

    event MinterSet(address indexed minter);
    event GovernanceSet(address indexed governance);
    event EmissionMinted(address indexed to, uint256 indexed year, uint256 amount);

    error NotGovernance();
    error NotMinter();
    error ZeroAddress();
    error CapExceeded();

    constructor(address treasury, uint256 initialSupply, address governance_) ERC20("OARN Compute", "COMP") {
        if (governance_ == address(0)) revert ZeroAddress();
        emissionStart = block.timestamp;
        governance = governance_;
        if (initialSupply > 0) {
            if (treasury == address(0)) revert ZeroAddress();
            _mint(treasury, initialSupply);
        }
    }

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance();
        _;
    }

    /// @notice Set or rotate the minter (governance only; zero disables minting).
    function setMinter(address minter_) external onlyGovernance {
        minter = minter_;
        emit MinterSet(minter_);
    }

    /// @notice Hand governance to another account (governance only: a timelock migration).
    function setGovernance(address governance_) external onlyGovernance {
        if (governance_ == address(0)) revert ZeroAddress();
        governance = governance_;
        emit GovernanceSet(governance_);
    }

    function yearOf(uint256 timestamp) public view returns (uint256) {
        if (timestamp < emissionStart) return 1;
        return (timestamp - emissionStart) / YEAR + 1;
    }

    function yearCap(uint256 year) public pure returns (uint256 cap) {
        if (year == 0) return 0;
        cap = YEAR_ONE_CAP;
        for (uint256 i = 1; i < year && cap > 0; ++i) cap = (cap * 4) / 5;
    }

    /// @notice What can still be minted in the current year.
    function remainingEmission() public view returns (uint256) {
        uint256 year = yearOf(block.timestamp);
        return yearCap(year) - mintedInYear[year];
    }

    /// @notice Mint up to `amount` (clamped to the year's remaining cap) to `to` (minter only).
    function mintEmission(address to, uint256 amount) external returns (uint256 minted) {
        if (msg.sender != minter) revert NotMinter();
        uint256 year = yearOf(block.timestamp);
        uint256 remaining = yearCap(year) - mintedInYear[year];
        minted = amount < remaining ? amount : remaining;
        if (minted > 0) {
            mintedInYear[year] += minted;
            _mint(to, minted);
            emit EmissionMinted(to, year, minted);
        }
    }
}
